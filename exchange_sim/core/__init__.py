"""The venue-neutral core: accounts, keys, matching, positions, dead man's switches, journal,
faults and the admin API. It speaks no venue's protocol: each front renders it."""
