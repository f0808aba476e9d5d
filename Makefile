# The two commands a newcomer needs (see README.md):
#   make run    install missing packages, build, start emberd in the foreground (dev mode)
#   make check  install missing packages, build, run every test suite
# Everything else here is a step of those two or a variant of them.

BUILD      ?= build
ASAN_BUILD ?= build-asan
ARM64_BUILD ?= build-arm64
SOCKET     ?= $(CURDIR)/run/emberd.sock
MESON_OPTS ?=

.PHONY: all setup build asan-build run check check-asan check-quick check-arm64 clean

all: build

setup:
	@scripts/setup.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false $(MESON_OPTS)

build: setup $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	@mkdir -p $(dir $(SOCKET))
	@scripts/banner.sh $(SOCKET)
	exec $(BUILD)/daemon/emberd --dev --socket $(SOCKET)

# Every suite twice: as built, and built with AddressSanitizer and UndefinedBehaviorSanitizer.
check: build asan-build
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		scripts/run-tests.sh $(BUILD) $(ASAN_BUILD)

# Only the sanitizer build, or only the plain one (quicker while working).
check-asan: asan-build
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		scripts/run-tests.sh $(ASAN_BUILD)

check-quick: build
	@scripts/run-tests.sh $(BUILD)

asan-build: setup $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

# The arm64 cross build (Debian's gcc-aarch64-linux-gnu and :arm64 libraries), every suite
# run under qemu-aarch64 through the cross file's exe_wrapper. Correctness only: speed is not
# measured under emulation. Check cases tagged "needs-native" (wall-clock bounds, kernel
# behaviour qemu-user does not emulate) are left out; each says why where it is tagged.
check-arm64: setup
	@scripts/setup-arm64.sh
	@[ -f $(ARM64_BUILD)/build.ninja ] || meson setup $(ARM64_BUILD) \
		--cross-file cross/aarch64-linux-gnu.ini -Dc_link_args=-L$(CURDIR)/cross/lib $(MESON_OPTS)
	ninja -C $(ARM64_BUILD)
	@CK_EXCLUDE_TAGS=needs-native scripts/run-tests.sh $(ARM64_BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) run
