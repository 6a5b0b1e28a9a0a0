"""From a plant's columns to the studio's: the canonical schema and how a file's columns are mapped to it.

- `schema`: the canonical columns, the aliases exports use for them, explicit mappings.
- `proposals`: what a file's contents propose for the columns its names did not give away.
- `content`: a mapping checked against the file's contents (names propose, contents decide).
- `units`: the plant's unit of time (minutes, hours or seconds).
- `mapping_memory`: mappings remembered by header, so the next file opens with the confirmed one.
"""
