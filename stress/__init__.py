"""`make stress`: attacks a running stack (concurrency, faults, hostile input, attacks) and writes RELIABILITY.md."""
