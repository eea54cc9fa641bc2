#!/usr/bin/python3
"""tfevents_check — an independent reader of the TensorBoard event files common/tboard.c writes.

Reads the TFRecord framing (uint64 length, masked CRC-32C of the length, data, masked CRC-32C of
the data), verifies both CRCs with its own CRC-32C, decodes each record as a TensorFlow `Event`
with Debian's python3-protobuf (the message classes are built at run time from the descriptor
below: the fields of TensorFlow's event.proto, summary.proto, tensor.proto and tensor_shape.proto
that the writer uses), and checks what TensorBoard relies on: the first event is the file version
"brain.Event:2", every event has a wall time, every value is a float scalar or a text tensor for
the text plugin, nothing is left over. A record that fails any check ends the run with one line
naming the file, the record and its byte offset, and exit status 1.

    tfevents_check.py FILE   prints the content as JSON: {"file_version", "events",
    "starts": [step of each SessionLog START], "scalars": {tag: [[step, value]]},
    "texts": {tag: [[step, text]]}}
"""
import json
import math
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

F = descriptor_pb2.FieldDescriptorProto


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def build_classes():
    """Event and the messages under it, as protobuf classes made from a hand-written descriptor."""
    fd = descriptor_pb2.FileDescriptorProto(name="tfevents_check.proto", package="tfcheck",
                                            syntax="proto3")

    def message(name, fields, parent=None, oneofs=()):
        m = (parent.nested_type if parent else fd.message_type).add(name=name)
        for o in oneofs:
            m.oneof_decl.add(name=o)
        for fname, number, ftype, extra in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=F.LABEL_OPTIONAL)
            for k, v in extra.items():
                setattr(f, k, v)
        return m

    def enum(name, values, parent=None):
        e = (parent.enum_type if parent else fd.enum_type).add(name=name)
        for vname, number in values:
            e.value.add(name=vname, number=number)

    rep = {"label": F.LABEL_REPEATED}
    enum("DataType", [("DT_INVALID", 0), ("DT_FLOAT", 1), ("DT_DOUBLE", 2), ("DT_STRING", 7)])
    enum("DataClass", [("DATA_CLASS_UNKNOWN", 0), ("DATA_CLASS_SCALAR", 1),
                       ("DATA_CLASS_TENSOR", 2), ("DATA_CLASS_BLOB_SEQUENCE", 3)])
    shape = message("TensorShapeProto", [
        ("dim", 2, F.TYPE_MESSAGE, dict(rep, type_name=".tfcheck.TensorShapeProto.Dim")),
        ("unknown_rank", 3, F.TYPE_BOOL, {})])
    message("Dim", [("size", 1, F.TYPE_INT64, {}), ("name", 2, F.TYPE_STRING, {})], parent=shape)
    message("TensorProto", [
        ("dtype", 1, F.TYPE_ENUM, {"type_name": ".tfcheck.DataType"}),
        ("tensor_shape", 2, F.TYPE_MESSAGE, {"type_name": ".tfcheck.TensorShapeProto"}),
        ("version_number", 3, F.TYPE_INT32, {}),
        ("tensor_content", 4, F.TYPE_BYTES, {}),
        ("float_val", 5, F.TYPE_FLOAT, rep),
        ("string_val", 8, F.TYPE_BYTES, rep)])
    meta = message("SummaryMetadata", [
        ("plugin_data", 1, F.TYPE_MESSAGE, {"type_name": ".tfcheck.SummaryMetadata.PluginData"}),
        ("display_name", 2, F.TYPE_STRING, {}),
        ("summary_description", 3, F.TYPE_STRING, {}),
        ("data_class", 4, F.TYPE_ENUM, {"type_name": ".tfcheck.DataClass"})])
    message("PluginData", [("plugin_name", 1, F.TYPE_STRING, {}),
                           ("content", 2, F.TYPE_BYTES, {})], parent=meta)
    summary = message("Summary", [
        ("value", 1, F.TYPE_MESSAGE, dict(rep, type_name=".tfcheck.Summary.Value"))])
    message("Value", [
        ("node_name", 7, F.TYPE_STRING, {}),
        ("tag", 1, F.TYPE_STRING, {}),
        ("metadata", 9, F.TYPE_MESSAGE, {"type_name": ".tfcheck.SummaryMetadata"}),
        ("simple_value", 2, F.TYPE_FLOAT, {"oneof_index": 0}),
        ("tensor", 8, F.TYPE_MESSAGE, {"type_name": ".tfcheck.TensorProto", "oneof_index": 0})],
        parent=summary, oneofs=["value"])
    log = message("SessionLog", [
        ("status", 1, F.TYPE_ENUM, {"type_name": ".tfcheck.SessionLog.SessionStatus"}),
        ("checkpoint_path", 2, F.TYPE_STRING, {}),
        ("msg", 3, F.TYPE_STRING, {})])
    enum("SessionStatus", [("STATUS_UNSPECIFIED", 0), ("START", 1), ("STOP", 2),
                           ("CHECKPOINT", 3)], parent=log)
    message("Event", [
        ("wall_time", 1, F.TYPE_DOUBLE, {}),
        ("step", 2, F.TYPE_INT64, {}),
        ("file_version", 3, F.TYPE_STRING, {"oneof_index": 0}),
        ("graph_def", 4, F.TYPE_BYTES, {"oneof_index": 0}),
        ("summary", 5, F.TYPE_MESSAGE, {"type_name": ".tfcheck.Summary", "oneof_index": 0}),
        ("session_log", 7, F.TYPE_MESSAGE, {"type_name": ".tfcheck.SessionLog", "oneof_index": 0})],
        oneofs=["what"])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    desc = pool.FindMessageTypeByName("tfcheck.Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


class Bad(Exception):
    pass


def records(buf):
    """(offset, data) of each record; Bad on a short header, a short record or a wrong CRC."""
    pos = 0
    while pos < len(buf):
        if len(buf) - pos < 12:
            raise Bad(f"at byte {pos}: {len(buf) - pos} bytes left, a record header needs 12")
        n, hcrc = struct.unpack_from("<QI", buf, pos)
        if hcrc != masked(crc32c(buf[pos:pos + 8])):
            raise Bad(f"at byte {pos}: the length's CRC does not match (length field {n})")
        if len(buf) - pos - 12 < n + 4:
            raise Bad(f"at byte {pos}: a record of {n} bytes and its CRC need {n + 16} bytes, "
                      f"{len(buf) - pos} left")
        data = buf[pos + 12:pos + 12 + n]
        (dcrc,) = struct.unpack_from("<I", buf, pos + 12 + n)
        if dcrc != masked(crc32c(data)):
            raise Bad(f"at byte {pos}: the data's CRC does not match")
        yield pos, data
        pos += 12 + n + 4


def read(path, Event):
    out = {"file_version": None, "events": 0, "starts": [], "scalars": {}, "texts": {}}
    with open(path, "rb") as f:
        buf = f.read()
    for k, (pos, data) in enumerate(records(buf)):
        where = f"record {k} at byte {pos}"
        try:
            ev = Event.FromString(data)
        except DecodeError as e:
            raise Bad(f"{where}: not an Event protobuf: {e}")
        if has_unknown(ev):
            raise Bad(f"{where}: a field the Event messages do not define")
        if ev.SerializeToString() != data:
            raise Bad(f"{where}: not in canonical form (field order, repeated or default fields)")
        if not (math.isfinite(ev.wall_time) and ev.wall_time > 1e9):
            raise Bad(f"{where}: wall_time {ev.wall_time} is not a time after 2001")
        what = ev.WhichOneof("what")
        if k == 0:
            if what != "file_version" or ev.file_version != "brain.Event:2":
                raise Bad(f"{where}: the first event must be file_version 'brain.Event:2'")
            out["file_version"] = ev.file_version
        elif what == "session_log" and ev.session_log.status == 1:
            out["starts"].append(ev.step)
        elif what == "summary":
            for v in ev.summary.value:
                add_value(out, where, ev.step, v)
        else:
            raise Bad(f"{where}: unexpected event ({what})")
        out["events"] += 1
    if out["events"] == 0:
        raise Bad("no records: an event file starts with the file version")
    return out


def has_unknown(msg):
    if len(msg.UnknownFields()):
        return True
    for fd, v in msg.ListFields():
        if fd.message_type is not None:
            if any(has_unknown(x) for x in (v if fd.label == fd.LABEL_REPEATED else [v])):
                return True
    return False


def add_value(out, where, step, v):
    if not v.tag:
        raise Bad(f"{where}: a summary value without a tag")
    kind = v.WhichOneof("value")
    if kind == "simple_value":
        out["scalars"].setdefault(v.tag, []).append([step, v.simple_value])
    elif kind == "tensor":
        t = v.tensor
        if v.metadata.plugin_data.plugin_name != "text":
            raise Bad(f"{where}: tensor '{v.tag}' is not for the text plugin")
        if t.dtype != 7 or len(t.tensor_shape.dim) or len(t.string_val) != 1:
            raise Bad(f"{where}: text '{v.tag}' is not one DT_STRING scalar")
        try:
            text = t.string_val[0].decode("utf-8")
        except UnicodeDecodeError:
            raise Bad(f"{where}: text '{v.tag}' is not UTF-8")
        out["texts"].setdefault(v.tag, []).append([step, text])
    else:
        raise Bad(f"{where}: value '{v.tag}' holds neither a scalar nor a text ({kind})")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: tfevents_check.py EVENTS_FILE")
    path = sys.argv[1]
    try:
        out = read(path, build_classes())
    except OSError as e:
        sys.stderr.write(f"tfevents_check: {path}: {e.strerror}\n")
        sys.exit(1)
    except Bad as e:
        sys.stderr.write(f"tfevents_check: {path}: {e}\n")
        sys.exit(1)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
