"""The simulated lab: systemd node containers on one machine, reached over real SSH."""
