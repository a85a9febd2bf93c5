"""Time: the host's one clock, the working-day calendar and the timer rows."""
