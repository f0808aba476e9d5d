# This machine's class: a 2-vCPU slice of an AMD EPYC server (Zen 2, EPYC 7002 series), as a
# cloud VM or an industrial x86 box sees it. acpi-cpufreq exposes three P-states per core;
# 1500/1800/2250 MHz are those of an EPYC 7742 (base 2.25 GHz). This VM exposes no cpufreq,
# powercap or hwmon, so none of this could be checked here.
#
# Every power figure below is an ESTIMATE, derived as follows, not a measurement:
#   - the slice's share of package power that no core state changes (I/O die, memory
#     controller, fabric: they do not follow the cores' P-state): 1.8 W, what two cores in C6
#     leave;
#   - a core in C1 (clock-gated, still powered) costs 0.5 W more than in C6 (power-gated) at
#     the lowest P-state, rising with its voltage to 0.55 / 0.6 W at 1800 / 2250 MHz. IDLE_W
#     below is both cores in C1: 1.8 + 2 x (0.5, 0.55, 0.6) = 2.8 / 2.9 / 3.0 W. A core in C6
#     sheds its whole C1 share, whatever the clock;
#   - the menu cpuidle governor reaches C6 after about 2 ms idle, and leaving it takes about
#     0.1 ms;
#   - a busy core at 2250 MHz: 225 W TDP / 64 cores = 3.5 W over the all-C6 floor (AMD EPYC
#     7742 product page: 64 cores, 225 W default TDP), treating TDP as all-core load power;
#     lower P-states scale it as f x V^2 with assumed core voltages 0.95 / 1.05 / 1.15 V (1.592,
#     2.334, 3.5 W). BUSY_W is that minus the core's C1 share already in IDLE_W (1.092, 1.784,
#     2.9 W), so both cores busy cost the same as before the C1 share moved into IDLE_W.
#
# ondemand: the kernel's own defaults. up_threshold 95 (od_init picks
# MICRO_FREQUENCY_UP_THRESHOLD on a NO_HZ kernel, drivers/cpufreq/cpufreq_ondemand.c),
# sampling_down_factor 1 (DEF_SAMPLING_DOWN_FACTOR), sampling_rate 10 ms: dbs_data's
# max(2 ticks, cpufreq_policy_transition_delay_us) where the delay is
# min(transition_latency x 1000, 10 ms) up to Linux 6.7 (10 ms for any latency >= 10 us). From
# 6.8 the delay is capped at 2 ms, leaving 2 ticks (8 ms at HZ=250); the simulator's 10 ms
# tick cannot express that.
# Use the rpi4 profile for anything that depends on absolute watts.
name x86-epyc
description 2-vCPU slice of an AMD EPYC 7002 (Zen 2) server, 1500-2250 MHz, estimates only
cores 2
wake_ms 0.1
deep_idle_ms 2
shallow_w 0.5
mem_frac 0.2
od_up_threshold 95
od_sampling_ms 10
od_sampling_down_factor 1
#     MHz  idle_W  busy_W(per core)
freq 1500  2.80  1.092
freq 1800  2.90  1.784
freq 2250  3.00  2.900
