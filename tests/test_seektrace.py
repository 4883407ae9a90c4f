#!/usr/bin/python3
"""Tests of notebooks/seektrace.py, the notebooks' safetensors reader.

Three kinds of reference, none of them the reader itself:
  - byte strings built here by hand (struct.pack of known bit patterns: IEEE half and single
    precision, bfloat16 as the top half of a float32, little-endian integers);
  - the published FP8 tables (OCP 8-bit floating point spec, as in cuda_fp8.h): landmark codes,
    E5M2 as the top byte of an IEEE half, and the codes `seek fp8 encode` prints;
  - files `seek` writes: a trace (whose values `seek step` also prints) and the bundled checkpoint
    converted by `seek convert` to FP8 and BF16, checked against a float64 re-derivation.

Run: SEEK=build/seek SEEK_DATA=data /usr/bin/python3 tests/test_seektrace.py (CTest: docs.seektrace).
"""

import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "notebooks"))
import seektrace  # noqa: E402

SEEK = os.path.abspath(os.environ.get("SEEK", os.path.join(HERE, "..", "build", "seek")))
DATA = os.path.abspath(os.environ.get("SEEK_DATA", os.path.join(HERE, "..", "data")))


def safetensors_bytes(tensors, metadata=None):
    """tensors: [(name, dtype, shape, raw bytes)] -> a safetensors file, built by the format's rules."""
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def run_seek(*args, cwd):
    done = subprocess.run([SEEK] + [str(a) for a in args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"seek {' '.join(map(str, args))} exited with {done.returncode}: {done.stderr}")
    return done.stdout


class HandBuiltBytes(unittest.TestCase):
    def test_every_dtype(self):
        f32 = struct.pack("<4f", 1.5, -2.0, float("-inf"), 3.0e-39)        # 3e-39: a float32 subnormal
        f16 = struct.pack("<4H", 0x3C00, 0xC000, 0x7C00, 0x0001)            # 1, -2, inf, 2^-24
        bf16 = struct.pack("<4H", 0x3F80, 0xC0A0, 0xFF80, 0x4049)           # 1, -5, -inf, 3.140625
        i32 = struct.pack("<3i", -7, 0, 2**31 - 1)
        i64 = struct.pack("<2q", -(2**40), 2**62)
        u8 = bytes([0, 255])
        boolean = bytes([1, 0, 1])
        e4m3 = bytes([0x38, 0x7E, 0xFE, 0x01, 0x08, 0x7F])                  # 1, 448, -448, 2^-9, 2^-6, NaN
        e5m2 = bytes([0x3C, 0x7B, 0x7C, 0xFC, 0x01])                        # 1, 57344, inf, -inf, 2^-16
        blob = safetensors_bytes([
            ("f32", "F32", [2, 2], f32), ("f16", "F16", [4], f16), ("bf16", "BF16", [4], bf16),
            ("i32", "I32", [3], i32), ("i64", "I64", [2], i64), ("u8", "U8", [2], u8),
            ("bool", "BOOL", [3], boolean), ("e4m3", "F8_E4M3", [6], e4m3), ("e5m2", "F8_E5M2", [5], e5m2),
            ("empty", "F32", [0, 3], b""),
        ], metadata={"config": json.dumps({"kv_lora_rank": 512}), "prompt": "12+34=", "tokens": "1,2"})
        t = seektrace.parse(blob, "hand-built")

        self.assertEqual(list(t), ["f32", "f16", "bf16", "i32", "i64", "u8", "bool", "e4m3", "e5m2", "empty"])
        self.assertEqual(t["f32"].shape, (2, 2))
        self.assertEqual(t["f32"][0, 0], 1.5)
        self.assertEqual(t["f32"][0, 1], -2.0)
        self.assertEqual(t["f32"][1, 0], -np.inf)
        self.assertEqual(t["f32"][1, 1], np.float32(3.0e-39))
        np.testing.assert_array_equal(t["f16"], [1.0, -2.0, np.inf, 2.0**-24])
        self.assertEqual(t["f16"].dtype, np.float32)
        np.testing.assert_array_equal(t["bf16"], [1.0, -5.0, -np.inf, 3.140625])
        np.testing.assert_array_equal(t["i32"], [-7, 0, 2**31 - 1])
        self.assertEqual(t["i32"].dtype, np.int32)
        np.testing.assert_array_equal(t["i64"], [-(2**40), 2**62])
        np.testing.assert_array_equal(t["u8"], [0, 255])
        np.testing.assert_array_equal(t["bool"], [True, False, True])
        np.testing.assert_array_equal(t["e4m3"][:5], [1.0, 448.0, -448.0, 2.0**-9, 2.0**-6])
        self.assertTrue(np.isnan(t["e4m3"][5]))
        np.testing.assert_array_equal(t["e5m2"], [1.0, 57344.0, np.inf, -np.inf, 2.0**-16])
        self.assertEqual(t["empty"].shape, (0, 3))
        self.assertEqual(t.dtypes["bf16"], "BF16")
        self.assertEqual(t.metadata["config"], {"kv_lora_rank": 512})  # JSON text in metadata is decoded
        self.assertEqual(t.metadata["prompt"], "12+34=")
        self.assertEqual(t.metadata["tokens"], "1,2")

    def test_malformed_files_name_the_field(self):
        good = safetensors_bytes([("w", "F32", [2], struct.pack("<2f", 1, 2))])
        cases = {
            "shorter than the 8-byte": good[:5],
            "runs past the end": struct.pack("<Q", 10**6) + good[8:],
            "not valid JSON": struct.pack("<Q", 4) + b"{{{{",
            "tensor 'w': unknown dtype 'F31'": safetensors_bytes([("w", "F31", [2], b"\0" * 8)]),
            "tensor 'w': shape [3] of F32 needs 12 bytes": safetensors_bytes([("w", "F32", [3], b"\0" * 8)]),
            "tensor 'w': data_offsets [0, 8] outside": safetensors_bytes([("w", "F32", [2], b"")])[:-0 or None],
            "tensor 'w': shape [-1]": safetensors_bytes([("w", "F32", [-1], b"")]),
        }
        for message, blob in cases.items():
            with self.subTest(message=message):
                with self.assertRaisesRegex(ValueError, "^bad.safetensors: .*" + re.escape(message)):
                    if message.startswith("tensor 'w': data_offsets"):  # a header promising 8 bytes, no data
                        text = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
                        blob = struct.pack("<Q", len(text)) + text
                    seektrace.parse(blob, "bad.safetensors")


class Fp8Tables(unittest.TestCase):
    def test_e4m3_landmarks(self):
        table = seektrace.FP8_E4M3_TABLE
        self.assertEqual(table[0x7E], 448.0)             # largest normal: 1.75 x 2^8
        self.assertEqual(table[0x08], 2.0**-6)           # smallest normal
        self.assertEqual(table[0x01], 2.0**-9)           # smallest subnormal
        self.assertEqual(table[0x07], 7 * 2.0**-9)       # largest subnormal
        self.assertEqual(table[0x38], 1.0)               # exponent bias 7
        self.assertEqual(table[0x80], 0.0)               # -0
        self.assertTrue(np.signbit(table[0x80]))
        self.assertEqual(np.flatnonzero(np.isnan(table)).tolist(), [0x7F, 0xFF])  # fn: one NaN per sign, no inf
        self.assertFalse(np.isinf(table).any())
        positive = table[:0x7F]
        self.assertTrue(np.all(np.diff(positive) > 0))   # codes 0..126 are increasing
        np.testing.assert_array_equal(table[0x80:0xFF], -table[:0x7F])
        # between 256 and 448 the grid has steps of 32 (lesson 3: 300 -> 288)
        np.testing.assert_array_equal(table[0x78:0x7F], [256, 288, 320, 352, 384, 416, 448])

    def test_e5m2_is_the_top_byte_of_an_ieee_half(self):
        halves = (np.arange(256, dtype=np.uint16) << 8).view(np.float16).astype(np.float32)
        np.testing.assert_array_equal(seektrace.FP8_E5M2_TABLE, halves)  # NaN positions equal too
        self.assertEqual(seektrace.FP8_E5M2_TABLE[0x7B], 57344.0)

    def test_every_code_against_seek_fp8_encode(self):
        """`seek fp8 encode` (core/fp8.cpp, itself checked against cuda_fp8.h) encodes a value and
        prints the code and what the code decodes to. Feeding it every finite value of each table
        must give back that value's own code, and the same decoded value."""
        for fmt, table in (("E4M3", seektrace.FP8_E4M3_TABLE), ("E5M2", seektrace.FP8_E5M2_TABLE)):
            codes = [c for c in range(256) if np.isfinite(table[c]) and c != 0x80]  # -0 prints as 0
            with tempfile.TemporaryDirectory() as work:
                report = json.loads(run_seek("fp8", "encode", *[repr(float(table[c])) for c in codes], "--json", cwd=work))
            self.assertEqual(len(report["values"]), len(codes))
            for code, row in zip(codes, report["values"]):
                encoding = next(e for e in row["encodings"] if e["format"] == fmt)
                self.assertEqual(encoding["code"], code, f"{fmt} {row['input']}")
                self.assertEqual(np.float32(encoding["decoded"]), table[code], f"{fmt} code {code:#04x}")
                sign, exponent, mantissa = encoding["bits"].split(".")
                self.assertEqual(int(sign + exponent + mantissa, 2), code)


class FilesSeekWrites(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="seektrace-test-")

    def test_trace_values_and_masked_scores(self):
        printed = run_seek("step", "--prompt", "12+34=", "--trace", "t.safetensors", "--values", "4", cwd=self.work)
        trace = seektrace.load(os.path.join(self.work, "t.safetensors"))
        self.assertEqual(trace.metadata["config"]["kv_lora_rank"], 16)
        self.assertEqual(trace.metadata["tokens"].count(",") + 1, 6)  # "12+34=", one token per character
        self.assertEqual(trace["layers.0.attn.c_kv"].shape, (6, 16))
        self.assertEqual(trace.dtypes["layers.1.moe.topk_idx"], "I32")
        self.assertEqual(trace["layers.1.moe.topk_idx"].dtype, np.int32)
        # The first values seek prints for each tensor (4 decimals) are the file's first values.
        compared = 0
        for name, first in re.findall(r"\] (\S+) +\[[^\n]*\n(?:[^\n]*\n)*?\s+first: ([^\n]*)", printed):
            values = [float(v) for v in first.split()]
            flat = trace[name].astype(np.float64).ravel()[:len(values)]
            finite = np.isfinite(flat)
            np.testing.assert_allclose(flat[finite], np.array(values)[finite], atol=6e-5, err_msg=name)
            compared += 1
        self.assertGreater(compared, 20)
        # Causal mask: scores above the diagonal are -inf, and their probabilities exactly 0.
        scores, probs = trace["layers.0.attn.scores"], trace["layers.0.attn.probs"]
        above = np.triu(np.ones(scores.shape[-2:], dtype=bool), k=1)
        self.assertTrue(np.all(np.isneginf(scores[:, above])))
        self.assertTrue(np.all(np.isfinite(scores[:, ~above])))
        self.assertTrue(np.all(probs[:, above] == 0))
        np.testing.assert_allclose(probs.sum(axis=-1), 1, atol=1e-6)

    def test_fp8_and_bf16_checkpoints(self):
        base = os.path.join(DATA, "toy", "base")
        run_seek("convert", "--in", base, "--out", "fp8", "--to", "fp8", cwd=self.work)
        run_seek("convert", "--in", "fp8", "--out", "back", "--to", "f32", cwd=self.work)
        run_seek("convert", "--in", base, "--out", "bf16", "--to", "bf16", cwd=self.work)
        f32 = seektrace.load(base)
        fp8 = seektrace.load(os.path.join(self.work, "fp8"))
        back = seektrace.load(os.path.join(self.work, "back"))
        bf16 = seektrace.load(os.path.join(self.work, "bf16"))

        name = "model.layers.0.self_attn.kv_a_proj_with_mqa.weight"
        self.assertEqual(fp8.dtypes[name], "F8_E4M3")
        self.assertEqual(bf16.dtypes[name], "BF16")
        fp8_weights = [n for n, d in fp8.dtypes.items() if d == "F8_E4M3"]
        self.assertGreater(len(fp8_weights), 10)
        for weight in fp8_weights:
            codes, scale = fp8[weight], fp8[weight + "_scale_inv"]
            rows, cols = codes.shape
            self.assertEqual(scale.shape, (-(-rows // 128), -(-cols // 128)), weight)
            dequantized = codes * np.repeat(np.repeat(scale, 128, 0), 128, 1)[:rows, :cols]
            # seek's own dequantization (to f32) multiplies in float32 too: the same bits.
            np.testing.assert_array_equal(dequantized, back[weight], err_msg=weight)
            # and it is the original to E4M3's precision: half a step of 2^-3 relative, or of the
            # subnormal spacing scale * 2^-9 for the smallest values.
            original = f32[weight].astype(np.float64)
            error = np.abs(dequantized - original)
            block_scale = np.repeat(np.repeat(scale, 128, 0), 128, 1)[:rows, :cols]
            self.assertTrue(np.all(error <= 2.0**-4 * np.abs(original) + block_scale * 2.0**-10 + 1e-12), weight)
            self.assertLessEqual(np.abs(codes).max(), 448.0)
        # BF16: round to nearest even of the float32 bits, derived here on the integers.
        for weight, dtype in bf16.dtypes.items():
            if dtype != "BF16":
                continue
            bits = f32[weight].astype(np.float32).view(np.uint32).astype(np.uint64)
            rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
            np.testing.assert_array_equal(bf16[weight], seektrace.decode_bf16(rounded), err_msg=weight)


if __name__ == "__main__":
    unittest.main(verbosity=2)
