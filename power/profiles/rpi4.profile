# Raspberry Pi 4 Model B: BCM2711, 4x Cortex-A72, one cpufreq policy for all four cores.
#
# Frequencies: drivers/cpufreq/raspberrypi-cpufreq.c (Linux) builds the OPP table from the
# firmware's minimum to maximum clock in 100 MHz steps (RASPBERRYPI_FREQ_INTERVAL), which on a
# stock Pi 4 is 600..1500 MHz.
#
# Power, measured at the 5 V input of the whole board (so "idle" includes RAM, USB, Ethernet PHY):
#   - idle, ondemand governor (so at 600 MHz), no peripherals: 540 mA = 2.7 W;
#     `stress --cpu 4` at 1500 MHz: 1280 mA = 6.4 W.
#     Source: RasPi.TV's Raspberry Pi 4B power measurements (2019), a table of current at
#     5 V per state (only a secondary copy of the table could be read here).
#   - Board power rises monotonically with the CPU clock at every load: "Power Consumption
#     Profiling of a Lightweight Development Board: Sensing with the INA219 and Teensy 4.0
#     Microcontroller", Electronics 10(7):775, 2021, doi:10.3390/electronics10070775
#     (underclocking series on a Pi 4B; its per-frequency numbers were not read here).
#   - How much of the 2.7 W the CPU cores are: not measured anywhere read here. Two bounds:
#     after `halt` (ARM cores stopped, PMIC and board still powered) a Pi 4B draws 270-400 mA
#     = 1.35-2.0 W (Raspberry Pi Stack Exchange question 114422, "What is the minimum power
#     required for an RPi 4 in halt or shutdown?", and seamusdemora/PiFormulae RPi4bSleep.md);
#     the VL805 USB 3 controller alone changed idle power by ~0.3 W with a firmware update
#     (martinrowan.co.uk, "Raspberry Pi 4 - Power & Temperature at Idle", 2019). So at least
#     half of idle power is board and SoC outside the A72 cluster, which no CPU governor moves.
#   - Voltage: the firmware lowers the ARM rail with the clock (Raspberry Pi documentation,
#     "DVFS on the Raspberry Pi 4", frequency-management.md); an idle Pi 4B at 600 MHz reads
#     0.8375 V from `vcgencmd measure_volts` (homebridge-rpi wiki, "Hardware Monitoring").
# Everything between the two measured points is an ESTIMATE, not a measurement: idle power is
# interpolated linearly to 2.9 W at 1500 MHz (leakage of four cores in WFI at the higher core
# voltage), and a busy core's power scales as f x V^2 with the core voltage linear from
# 0.8375 V at 600 MHz (the reading above) to an assumed 0.90 V at 1500 MHz, anchored so that
# idle(1500) + 4 x busy(1500) = 6.4 W: busy(f) = 0.875 x (f / 1500) x (V(f) / 0.90)^2. Verify on
# real hardware before quoting absolute joules.
#
# Idle states: the Pi 4's device tree (bcm2711.dtsi) brings the cores up with the spin-table
# enable method and declares no idle-states, so the kernel has no cpuidle state deeper than
# WFI: an idle core is clock-gated but powered at the cluster's voltage, parked or not. No deep
# idle, so consolidating work frees nothing; WFI wakes on the next interrupt (wake_ms 0 at the
# simulator's 0.1 ms step).
#
# ondemand as Raspberry Pi OS runs it: the raspi-config package's init script
# (RPi-Distro/raspi-config, debian/raspi-config.init; defaults in etc/default/cpu_governor)
# switches every core to ondemand at boot with up_threshold 50, sampling_rate 100000 us and
# sampling_down_factor 50 (io_is_busy 0).
name rpi4
description Raspberry Pi 4 Model B (BCM2711, 4x Cortex-A72), 600-1500 MHz, whole-board power
cores 4
wake_ms 0
deep_idle_ms none
shallow_w 0
mem_frac 0.1
od_up_threshold 50
od_sampling_ms 100
od_sampling_down_factor 50
#     MHz  idle_W  busy_W(per core)
freq  600  2.70  0.303
freq  700  2.72  0.359
freq  800  2.74  0.418
freq  900  2.77  0.478
freq 1000  2.79  0.539
freq 1100  2.81  0.603
freq 1200  2.83  0.668
freq 1300  2.86  0.735
freq 1400  2.88  0.804
freq 1500  2.90  0.875
