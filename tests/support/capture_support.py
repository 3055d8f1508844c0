"""The capture pipeline's test side: a `hawser forwarder` process, and a reader of what it
stored that shares no code with hawser: the archive's gzip'ed NDJSON objects, and the spool's
segments (u32 LE length, u32 LE CRC32C, payload) checked with Debian's python3-crc32c."""

import gzip
import json
import os
import struct
import sys

import hawser_harness as hh

if "/usr/lib/python3/dist-packages" not in sys.path:  # python3-crc32c from Debian under pyenv
    sys.path.append("/usr/lib/python3/dist-packages")
import crc32c  # noqa: E402


class Forwarder(hh.Hawser):
    """One `hawser forwarder` process; `config` is the forwarder's own YAML document (a dict)."""

    def __init__(self, config, name="forwarder", env=None):
        super().__init__(name=name, config_text=hh.to_yaml(config) + "\n", env=env, command="forwarder")
        self.config = config


def forwarder_config(spool, archive, listen="127.0.0.1:0", tls=None, allow=None, **extra):
    c = {"listen": listen, "admin": {"address": "127.0.0.1:0"},
         "storage": {"spool": spool, "directory": archive, "segment": {"max_age": "300ms"}}}
    if tls:
        c["tls"] = tls
    if allow:
        c["authorization"] = {"allow": list(allow)}
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(c.get(k), dict):
            c[k].update(v)
        else:
            c[k] = v
    return c


def read_segment(path):
    """The records of a spool segment up to the first torn or corrupt entry."""
    with open(path, "rb") as f:
        data = f.read()
    out, pos = [], 0
    while len(data) - pos >= 8:
        length, crc = struct.unpack_from("<II", data, pos)
        payload = data[pos + 8:pos + 8 + length]
        if len(payload) < length or crc32c.crc32c(payload) != crc:
            break
        out.append(payload)
        pos += 8 + length
    return out


def stored_bytes(*dirs):
    """Every stored byte (archive objects inflated, spool segment payloads), concatenated."""
    chunks = []
    for root in dirs:
        for dirpath, _, files in os.walk(root):
            for f in sorted(files):
                p = os.path.join(dirpath, f)
                if f.endswith(".ndjson.gz"):
                    with gzip.open(p, "rb") as g:
                        chunks.append(g.read())
                elif f.endswith(".closed") or f.endswith(".open"):
                    chunks.extend(read_segment(p))
    return b"\n".join(chunks)


def stored_records(*dirs):
    """Every record stored under `dirs` (duplicates kept), as dicts."""
    out = []
    for line in stored_bytes(*dirs).split(b"\n"):
        if line.strip():
            out.append(json.loads(line))
    return out


def archive_objects(archive):
    """Relative paths of the archive's objects."""
    found = []
    for dirpath, _, files in os.walk(archive):
        for f in files:
            if f.endswith(".ndjson.gz"):
                found.append(os.path.relpath(os.path.join(dirpath, f), archive))
    return sorted(found)


def capture_block(forwarder_addr, **extra):
    c = {"enabled": True, "forwarder": forwarder_addr, "batch": {"max_records": 200, "delay": "100ms"}}
    c.update(extra)
    return c
