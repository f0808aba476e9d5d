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
# Everything between those two points is an ESTIMATE, not a measurement: idle power is
# interpolated linearly to 2.9 W at 1500 MHz (leakage at the higher core voltage), and a busy
# core's power scales as f x V^2 with the core voltage assumed linear from 0.80 V at 600 MHz
# to 0.90 V at 1500 MHz, anchored so that idle(1500) + 4 x busy(1500) = 6.4 W. Verify on real
# hardware before quoting absolute joules; the comparison between policies depends mostly on
# the shape (busy power per unit of work falling with frequency, idle power nearly flat).
#
# The Pi 4 kernel has no cpuidle driver deeper than WFI, so there is no deep idle state to
# reach: shallow_w 0 and a token wake-up latency (estimate).
name rpi4
description Raspberry Pi 4 Model B (BCM2711, 4x Cortex-A72), 600-1500 MHz, whole-board power
cores 4
wake_ms 0.05
deep_idle_ms 0
shallow_w 0
mem_frac 0.1
#     MHz  idle_W  busy_W(per core)
freq  600  2.70  0.277
freq  700  2.72  0.332
freq  800  2.74  0.389
freq  900  2.77  0.450
freq 1000  2.79  0.514
freq 1100  2.81  0.580
freq 1200  2.83  0.649
freq 1300  2.86  0.721
freq 1400  2.88  0.797
freq 1500  2.90  0.875
