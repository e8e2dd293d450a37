"""Reads a TensorBoard event file with the standard library only and prints its events as JSON.

A second, independent reader of the format for tfevent's tests: TFRecord framing (uint64 length,
masked CRC-32C of the length, data, masked CRC-32C of the data) and the Event, Summary and
SessionLog protocol buffers, decoded from the wire format by hand. A torn last record ends the
file; a CRC that does not check is an error (exit 1). Scalar values are printed as the bits of
their 32-bit float, so that the comparison is exact.
"""
import json
import struct
import sys


def crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for x in data:
        c = TABLE[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def fields(buf):
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        elif wire == 2:
            n, i = varint(buf, i)
            value, i = buf[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wire)
        yield num, wire, value


def event(buf):
    out = {"wall": 0.0, "step": 0, "file_version": "", "scalars": [], "session_log": 0}
    for num, wire, value in fields(buf):
        if num == 1 and wire == 1:
            out["wall"] = struct.unpack("<d", value)[0]
        elif num == 2 and wire == 0:
            out["step"] = value if value < 1 << 63 else value - (1 << 64)
        elif num == 3 and wire == 2:
            out["file_version"] = value.decode()
        elif num == 5 and wire == 2:
            for vnum, _, v in fields(value):
                assert vnum == 1
                tag, bits = None, None
                for pnum, pwire, p in fields(v):
                    if pnum == 1 and pwire == 2:
                        tag = p.decode()
                    elif pnum == 2 and pwire == 5:
                        bits = struct.unpack("<I", p)[0]
                out["scalars"].append([tag, bits])
        elif num == 7 and wire == 2:
            for lnum, lwire, l in fields(value):
                if lnum == 1 and lwire == 0:
                    out["session_log"] = l
        else:
            raise ValueError("event field %d" % num)
    return out


def main(path):
    data = open(path, "rb").read()
    events, i = [], 0
    while i < len(data):
        if len(data) - i < 12:
            break  # torn length
        head = data[i:i + 8]
        (n,) = struct.unpack("<Q", head)
        if struct.unpack("<I", data[i + 8:i + 12])[0] != masked(head):
            sys.exit("length CRC at %d does not check" % i)
        if len(data) - i - 12 < n + 4:
            break  # torn data
        body = data[i + 12:i + 12 + n]
        if struct.unpack("<I", data[i + 12 + n:i + 16 + n])[0] != masked(body):
            sys.exit("data CRC at %d does not check" % i)
        events.append(event(body))
        i += 16 + n
    json.dump(events, sys.stdout)


main(sys.argv[1])
