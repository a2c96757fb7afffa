"""pyn2n.crypto: n2n's cryptographic building blocks, pure and I/O-free (spec §6, §7.3, §9).

* `pearson`   — Pearson B hash family (64/128/256 bits and truncations)
* `speck`     — Speck128/128 and /256, ECB blocks and n2n's CTR mode
* `twofish`   — Twofish block cipher
* `header`    — header encryption (`-H`)
* `timestamp` — header time stamps and replay checks
* `auth`      — user/password authentication (X25519, tokens, tags, dynamic keys)

Import the submodules directly; nothing is re-exported here so that importing one does not
pay for the others' tables.
"""
