# This machine's class: a 2-vCPU slice of an AMD EPYC server (Zen 2, EPYC 7002 series), as a
# cloud VM or an industrial x86 box sees it. acpi-cpufreq exposes three P-states per core;
# 1500/1800/2250 MHz are those of an EPYC 7742 (base 2.25 GHz). This VM exposes no cpufreq,
# powercap or hwmon, so none of this could be checked here.
#
# Every power figure below is an ESTIMATE, derived as follows, not a measurement:
#   - busy core at 2250 MHz: 225 W TDP / 64 cores = 3.5 W (AMD EPYC 7742 product page: 64
#     cores, 225 W default TDP), treating TDP as all-core load power;
#   - lower P-states: f x V^2 with assumed core voltages 0.95 / 1.05 / 1.15 V;
#   - idle: the slice's share of package idle power (uncore, memory controller, I/O die),
#     assumed 0.9 W per core at the lowest P-state and 1.0 W at the highest;
#   - a core in C1 (shallow idle) costs 0.5 W more than in C6; the menu cpuidle governor
#     reaches C6 after about 2 ms idle, and leaving it takes about 0.1 ms.
# Use the rpi4 profile for anything that depends on absolute watts.
name x86-epyc
description 2-vCPU slice of an AMD EPYC 7002 (Zen 2) server, 1500-2250 MHz, estimates only
cores 2
wake_ms 0.1
deep_idle_ms 2
shallow_w 0.5
mem_frac 0.2
#     MHz  idle_W  busy_W(per core)
freq 1500  1.80  1.592
freq 1800  1.90  2.334
freq 2250  2.00  3.500
