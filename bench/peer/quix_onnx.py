"""The side-by-side peer: a plain quix-streams app that calls the same ONNX model per message.

What an engineer would write first with quix-streams and ONNX Runtime: read each image
event, decode its raw gray8 pixels (docs/events.md's binary frame), run the model on that
one image, produce a JSON prediction keyed by the event id. quix-streams' defaults
(at-least-once, its own batching of commits); nothing Arena does: no batching of the model,
no transactions, no hot swap, no dead letters.

It runs in a virtualenv of its own (``bench/peer/requirements.lock``: quix-streams pins an
older confluent-kafka than Arena's), so it imports nothing of Arena. ``bench.peer_run``
starts it and counts its predictions.

    python quix_onnx.py --broker HOST:PORT --input TOPIC --output TOPIC --group G --model F
"""

from __future__ import annotations

import argparse
import struct
import sys
from typing import Any

import numpy as np
import onnxruntime as ort
from quixstreams import Application

HEADER = struct.Struct(">2sBBqhBBBHH")  # docs/events.md: the ImageEvent frame
TOP_K = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    for name in ("--broker", "--input", "--output", "--group", "--model"):
        parser.add_argument(name, required=True)
    args = parser.parse_args(argv)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def predict(frame: bytes) -> dict[str, Any]:
        magic, _, flags, ts, _, n_id, n_src, content, height, width = HEADER.unpack_from(frame)
        if magic != b"AI" or flags & 2 or content != 0:
            raise ValueError("the peer reads inline raw gray8 frames only")
        start = HEADER.size + n_id + n_src
        event_id = frame[HEADER.size : HEADER.size + n_id].decode()
        pixels = np.frombuffer(frame, np.uint8, height * width, start)
        image = (pixels.astype(np.float32) / 255.0).reshape(1, height, width)
        proba = session.run(None, {input_name: image})[0][0]
        top = np.argsort(proba)[::-1][:TOP_K]
        return {
            "event_id": event_id,
            "label": int(top[0]),
            "top_k": [[int(c), round(float(proba[c]), 4)] for c in top],
            "event_timestamp_ms": ts,
        }

    app = Application(
        broker_address=args.broker,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        loglevel="WARNING",
    )
    images = app.topic(args.input, key_deserializer="str", value_deserializer="bytes")
    predictions = app.topic(args.output, key_serializer="str", value_serializer="json")
    sdf = app.dataframe(images)
    sdf = sdf.apply(predict)
    sdf.to_topic(predictions)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
