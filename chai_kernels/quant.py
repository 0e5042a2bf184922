"""Quantized containers.

``QuantizedKV``: cached keys or values (B, M, H, D) stored as int8 or float8_e4m3fn with one float32
scale per (b, m, h): ``x ~= data.float() * scale[..., None]``. The Triton Cache Attention kernel
loads ``data`` and ``scale`` directly and dequantizes in registers.

``QuantizedLatent``: a latent (B, C, T, H, W) stored as int8 / float8_e4m3fn (or a float storage dtype) with
one float32 scale per (b, c, t), plus its versioned, CRC32-protected byte format (``to_bytes`` / ``from_bytes``,
specified below and in docs/kernels/quantization.md).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np
import torch

from chai_kernels.reference.quant import absmax_quantize, quant_max

__all__ = [
    "QuantizedKV",
    "quantize_kv",
    "QUANT_DTYPES",
    "quant_max",
    "QuantizedLatent",
    "LATENT_QUANT_DTYPES",
    "LATENT_FLOAT_STORAGE_DTYPES",
    "LATENT_STORAGE_DTYPES",
    "LATENT_HEADER_SIZE",
    "LATENT_FORMAT_VERSION",
]

QUANT_DTYPES = (torch.int8, torch.float8_e4m3fn)


class _ScaledData:
    """Descriptors shared by the quantized containers: ``data`` (narrow values) plus float32 ``scale``."""

    data: torch.Tensor
    scale: torch.Tensor

    @property
    def shape(self) -> torch.Size:
        """Shape of ``data``, which is the shape of the tensor it stands for."""
        return self.data.shape

    @property
    def dtype(self) -> torch.dtype:
        """Storage dtype of ``data``."""
        return self.data.dtype

    @property
    def device(self) -> torch.device:
        return self.data.device

    @property
    def nbytes(self) -> int:
        """Bytes held in memory: data plus float32 scales."""
        return self.data.numel() * self.data.element_size() + self.scale.numel() * 4


@dataclass(frozen=True)
class QuantizedKV(_ScaledData):
    """Quantized cached keys or values.

    data:  (B, M, H, D) int8 or float8_e4m3fn, last dimension contiguous.
    scale: (B, M, H) float32, same device; dequantized value = data * scale[..., None].
    """

    data: torch.Tensor
    scale: torch.Tensor

    def __post_init__(self):
        if self.data.dtype not in QUANT_DTYPES:
            raise TypeError(
                f"QuantizedKV.data has dtype {self.data.dtype}; expected torch.int8 or torch.float8_e4m3fn.\n"
                "HINT: build it with chai_kernels.quantize_kv(x)."
            )
        if self.data.dim() != 4:
            raise ValueError(f"QuantizedKV.data must be (B, M, H, D); got shape {tuple(self.data.shape)}.")
        if self.scale.dtype != torch.float32 or tuple(self.scale.shape) != tuple(self.data.shape[:3]):
            raise ValueError(
                f"QuantizedKV.scale must be float32 of shape {tuple(self.data.shape[:3])} (B, M, H); "
                f"got {self.scale.dtype} {tuple(self.scale.shape)}.\nHINT: build it with chai_kernels.quantize_kv(x)."
            )
        if self.data.device != self.scale.device:
            raise ValueError(f"QuantizedKV.data is on {self.data.device} but scale is on {self.scale.device}.")

    def dim(self) -> int:
        return 4

    def to(self, device, non_blocking: bool = False) -> "QuantizedKV":
        return QuantizedKV(
            self.data.to(device, non_blocking=non_blocking), self.scale.to(device, non_blocking=non_blocking)
        )

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return self.data.to(dtype) * self.scale.to(dtype).unsqueeze(-1)


def quantize_kv(x: torch.Tensor, *, dtype: torch.dtype = torch.int8) -> QuantizedKV:
    """Absmax-quantize (B, M, H, D) keys or values with a float32 scale per (b, m, h).

    Round to nearest, saturating: the package's one absmax quantizer,
    ``chai_kernels.reference.quant.absmax_quantize`` (float64 division, as for latents).
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(
            f"quantize_kv expects a floating-point tensor, got {type(x).__name__} "
            f"{getattr(x, 'dtype', '')}.\nHINT: pass the float K or V tensor (B, M, H, D)."
        )
    if x.dim() != 4:
        raise ValueError(f"quantize_kv expects x of shape (B, M, H, D); got {tuple(x.shape)}.")
    quant_max(dtype)  # raises a TypeError with a HINT for other dtypes
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).nonzero()[0].tolist()
        raise ValueError(
            f"quantize_kv: x has a NaN or Inf at index {bad} (shape {tuple(x.shape)}).\n"
            "HINT: quantize finite keys / values only."
        )
    data, scale = absmax_quantize(x.detach(), dtype, dims=(-1,))
    return QuantizedKV(data, scale)


# ---------------------------------------------------------------------------------------------------------------------
# Latents
# ---------------------------------------------------------------------------------------------------------------------
#
# Byte format of QuantizedLatent.to_bytes() (version 1). All integers little-endian. The layout is fixed
# (56-byte header) because the container is always 5-D; docs/kernels/quantization.md repeats this table.
#
#   offset  size  type      field
#   0       4     bytes     magic b"CHQL"
#   4       2     uint16    format version (1); always at offset 4 in every version
#   6       1     uint8     storage dtype code (data)        see _DTYPE_CODES
#   7       1     uint8     original dtype code (the latent quantize_latent saw)
#   8       1     uint8     ndim (always 5)
#   9       1     uint8     scale layout code (1 = one float32 per (b, c, t), C order, shape (B, C, T))
#   10      2     uint16    reserved, must be 0
#   12      20    5*uint32  shape B, C, T, H, W
#   32      8     uint64    data payload bytes  (= B*C*T*H*W * itemsize(storage dtype))
#   40      8     uint64    scale payload bytes (= B*C*T * 4)
#   48      4     uint32    CRC32 (zlib) of the payload (data bytes then scale bytes)
#   52      4     uint32    CRC32 (zlib) of header bytes [0, 52)
#   56      ...             payload: data (C order, little-endian elements), then scale (float32 little-endian)

LATENT_MAGIC = b"CHQL"
LATENT_FORMAT_VERSION = 1
LATENT_HEADER_SIZE = 56
SCALE_LAYOUT_PER_BCT = 1
_HEADER_STRUCT = struct.Struct("<4sHBBBBH5IQQII")
if _HEADER_STRUCT.size != LATENT_HEADER_SIZE:  # layout invariant of this module
    raise RuntimeError(f"latent header struct is {_HEADER_STRUCT.size} bytes, expected {LATENT_HEADER_SIZE}")

# Storage dtype code <-> dtype; the same table encodes the original dtype.
_DTYPE_CODES: dict[torch.dtype, int] = {
    torch.int8: 1,
    torch.float8_e4m3fn: 2,
    torch.float32: 3,
    torch.bfloat16: 4,
    torch.float16: 5,
    torch.float64: 6,
}
_CODE_DTYPES = {code: dt for dt, code in _DTYPE_CODES.items()}

#: Quantized storage (absmax scaled) dtypes.
LATENT_QUANT_DTYPES = (torch.int8, torch.float8_e4m3fn)
#: Full-precision storage dtypes: data is the latent cast to this dtype and every scale is 1.0.
LATENT_FLOAT_STORAGE_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
LATENT_STORAGE_DTYPES = LATENT_QUANT_DTYPES + LATENT_FLOAT_STORAGE_DTYPES
#: Dtypes a latent may have before quantization (recorded as ``orig_dtype``).
LATENT_ORIG_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)

# numpy little-endian integer views used to serialise each storage element size portably.
_LE_UINT = {1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}
_TORCH_UINT_VIEW = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _dtype_names(dtypes) -> str:
    return ", ".join(str(d) for d in dtypes)


@dataclass(frozen=True, eq=False)
class QuantizedLatent(_ScaledData):
    """A latent (B, C, T, H, W) stored narrow, with one float32 scale per (b, c, t) slice.

    Dequantized value: ``x[b, c, t, h, w] ~= float(data[b, c, t, h, w]) * scale[b, c, t]``.

    data:       (B, C, T, H, W) int8 or float8_e4m3fn (absmax quantized), or float32 / bfloat16 / float16
                ("float storage": the latent cast to that dtype, every scale exactly 1.0). C-contiguous.
    scale:      (B, C, T) float32, C-contiguous, same device as ``data``; finite and > 0.
    orig_dtype: dtype of the latent that was quantized (float32, bfloat16, float16 or float64); informative,
                it is what ``dequantize(dtype=None)`` returns.

    Build it with ``chai_kernels.quantize_latent``; turn it back into a tensor with
    ``chai_kernels.dequantize_latent`` (the op; this module holds only the data and its bytes, so it imports no op); serialise with ``to_bytes`` / ``from_bytes``.
    """

    data: torch.Tensor
    scale: torch.Tensor
    orig_dtype: torch.dtype = torch.float32

    def __post_init__(self):
        data, scale = self.data, self.scale
        if not isinstance(data, torch.Tensor) or not isinstance(scale, torch.Tensor):
            raise TypeError(
                f"QuantizedLatent needs tensors for data and scale; got {type(data).__name__} and "
                f"{type(scale).__name__}.\nHINT: build it with chai_kernels.quantize_latent(x)."
            )
        if data.dtype not in LATENT_STORAGE_DTYPES:
            raise TypeError(
                f"QuantizedLatent.data has dtype {data.dtype}; expected one of {_dtype_names(LATENT_STORAGE_DTYPES)}.\n"
                "HINT: build it with chai_kernels.quantize_latent(x, dtype=...)."
            )
        if data.dim() != 5:
            raise ValueError(
                f"QuantizedLatent.data must be 5-D (B, C, T, H, W); got shape {tuple(data.shape)}.\n"
                "HINT: latents are (batch, channels, frames, height, width); add missing dims with unsqueeze."
            )
        if scale.dtype != torch.float32 or tuple(scale.shape) != tuple(data.shape[:3]):
            raise ValueError(
                f"QuantizedLatent.scale must be float32 of shape {tuple(data.shape[:3])} (B, C, T);\n"
                f"got {scale.dtype} {tuple(scale.shape)}.\nHINT: build it with chai_kernels.quantize_latent(x)."
            )
        if data.device != scale.device:
            raise ValueError(
                f"QuantizedLatent.data is on {data.device} but scale is on {scale.device}.\n"
                "HINT: move both with QuantizedLatent.to(device)."
            )
        if self.orig_dtype not in LATENT_ORIG_DTYPES:
            raise TypeError(
                f"QuantizedLatent.orig_dtype is {self.orig_dtype}; expected one of {_dtype_names(LATENT_ORIG_DTYPES)}."
            )
        # Kernels and serialisation index rows of H*W contiguous elements.
        if not data.is_contiguous():
            object.__setattr__(self, "data", data.contiguous())
        if not scale.is_contiguous():
            object.__setattr__(self, "scale", scale.contiguous())

    # -- descriptors ---------------------------------------------------------------------------------------------------
    @property
    def is_quantized(self) -> bool:
        """False for float storage (data is the latent cast, scales are 1)."""
        return self.data.dtype in LATENT_QUANT_DTYPES

    @property
    def serialized_nbytes(self) -> int:
        """Exact length of ``to_bytes()``: the 56-byte header plus ``nbytes``. Computed without serialising."""
        return LATENT_HEADER_SIZE + self.nbytes

    def numel(self) -> int:
        return self.data.numel()

    def dim(self) -> int:
        return 5

    def is_pinned(self) -> bool:
        return self.data.is_pinned() and self.scale.is_pinned()

    def __repr__(self) -> str:
        return (
            f"QuantizedLatent(shape={tuple(self.shape)}, dtype={self.dtype}, orig_dtype={self.orig_dtype}, "
            f"device={self.device}, nbytes={self.nbytes})"
        )

    # -- movement ------------------------------------------------------------------------------------------------------
    def to(self, device, non_blocking: bool = False) -> "QuantizedLatent":
        """Copy to ``device`` (a no-op returning ``self`` when already there). Dtypes never change."""
        device = torch.device(device)
        data = self.data.to(device, non_blocking=non_blocking)
        scale = self.scale.to(device, non_blocking=non_blocking)
        if data is self.data and scale is self.scale:
            return self
        return QuantizedLatent(data, scale, self.orig_dtype)

    def cpu(self) -> "QuantizedLatent":
        return self.to("cpu")

    def pin_memory(self) -> "QuantizedLatent":
        """Page-locked host copy, so ``.to("cuda", non_blocking=True)`` overlaps with compute.

        Needs an accelerator runtime (PyTorch cannot pin memory without one); raises ValueError on a CUDA tensor.
        """
        if self.device.type != "cpu":
            raise ValueError(
                f"pin_memory() needs a CPU QuantizedLatent; this one is on {self.device}.\n"
                "HINT: call .cpu().pin_memory() to stage it on the host."
            )
        if self.is_pinned():
            return self
        return QuantizedLatent(self.data.pin_memory(), self.scale.pin_memory(), self.orig_dtype)

    # -- serialisation -------------------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialise to the versioned byte format (header + CRC32-protected payload); see module comment."""
        data = self.data.detach().cpu().contiguous()
        scale = self.scale.detach().cpu().contiguous()
        size = data.element_size()
        # Reinterpret as unsigned ints of the same width, then force little-endian element order.
        data_np = data.view(_TORCH_UINT_VIEW[size]).numpy().view(f"=u{size}").astype(_LE_UINT[size], copy=False)
        data_b = data_np.tobytes()
        scale_b = scale.numpy().astype("<f4", copy=False).tobytes()
        payload_crc = zlib.crc32(scale_b, zlib.crc32(data_b))
        head = _HEADER_STRUCT.pack(
            LATENT_MAGIC,
            LATENT_FORMAT_VERSION,
            _DTYPE_CODES[self.dtype],
            _DTYPE_CODES[self.orig_dtype],
            5,
            SCALE_LAYOUT_PER_BCT,
            0,
            *(int(s) for s in self.shape),
            len(data_b),
            len(scale_b),
            payload_crc,
            0,
        )
        head = head[:52] + struct.pack("<I", zlib.crc32(head[:52]))
        return head + data_b + scale_b

    @classmethod
    def from_bytes(cls, buf, device="cpu") -> "QuantizedLatent":
        """Parse ``to_bytes()`` output. Any corruption, truncation, trailing data or foreign input raises
        ValueError (TypeError for a non-bytes argument); nothing partially decoded is ever returned."""
        if isinstance(buf, memoryview):
            buf = buf.tobytes()
        if not isinstance(buf, (bytes, bytearray)):
            raise TypeError(
                f"QuantizedLatent.from_bytes expects bytes, bytearray or memoryview; got {type(buf).__name__}.\n"
                "HINT: pass the exact value returned by QuantizedLatent.to_bytes()."
            )
        buf = bytes(buf)
        n = len(buf)
        if n < LATENT_HEADER_SIZE:
            raise ValueError(
                f"QuantizedLatent.from_bytes: {n} bytes is shorter than the {LATENT_HEADER_SIZE}-byte header "
                "(empty or truncated).\nHINT: the stored entry is damaged; drop it and recompute the latent."
            )
        if buf[:4] != LATENT_MAGIC:
            raise ValueError(
                f"QuantizedLatent.from_bytes: wrong magic {buf[:4]!r} (expected {LATENT_MAGIC!r}); these bytes are "
                "not a serialised QuantizedLatent.\nHINT: pass bytes produced by QuantizedLatent.to_bytes()."
            )
        (version,) = struct.unpack_from("<H", buf, 4)
        if version != LATENT_FORMAT_VERSION:
            raise ValueError(
                f"QuantizedLatent.from_bytes: format version {version} is not supported (this build reads version "
                f"{LATENT_FORMAT_VERSION}).\nHINT: re-serialise the latent with this chai_kernels version."
            )
        (head_crc,) = struct.unpack_from("<I", buf, 52)
        if zlib.crc32(buf[:52]) != head_crc:
            raise ValueError(
                "QuantizedLatent.from_bytes: header CRC32 mismatch; the header is corrupted.\n"
                "HINT: the stored entry is damaged; drop it and recompute the latent."
            )
        (_, _, dcode, ocode, ndim, layout, reserved, *rest) = _HEADER_STRUCT.unpack_from(buf, 0)
        shape, (data_n, scale_n, payload_crc, _) = tuple(rest[:5]), rest[5:]
        dtype, orig = _CODE_DTYPES.get(dcode), _CODE_DTYPES.get(ocode)
        problems = []
        if dtype not in LATENT_STORAGE_DTYPES:
            problems.append(f"unknown storage dtype code {dcode}")
        if orig not in LATENT_ORIG_DTYPES:
            problems.append(f"unknown original dtype code {ocode}")
        if ndim != 5:
            problems.append(f"ndim {ndim} (expected 5)")
        if layout != SCALE_LAYOUT_PER_BCT:
            problems.append(f"unknown scale layout code {layout}")
        if reserved != 0:
            problems.append(f"reserved field {reserved} (expected 0)")
        if any(s == 0 for s in shape):
            problems.append(f"empty shape {shape}")
        if not problems:
            numel = shape[0] * shape[1] * shape[2] * shape[3] * shape[4]
            itemsize = torch.empty((), dtype=dtype).element_size()
            if data_n != numel * itemsize:
                problems.append(f"data size {data_n} != {numel} elements x {itemsize} bytes for shape {shape}")
            if scale_n != shape[0] * shape[1] * shape[2] * 4:
                problems.append(f"scale size {scale_n} != B*C*T*4 for shape {shape}")
        if problems:
            raise ValueError(
                "QuantizedLatent.from_bytes: inconsistent header: " + "; ".join(problems) + ".\n"
                "HINT: the bytes were not written by QuantizedLatent.to_bytes() of this format version."
            )
        expected = LATENT_HEADER_SIZE + data_n + scale_n
        if n != expected:
            what = "truncated" if n < expected else "has trailing bytes"
            raise ValueError(
                f"QuantizedLatent.from_bytes: buffer is {n} bytes but the header announces {expected}; it is {what}.\n"
                "HINT: store and read back the exact bytes of to_bytes()."
            )
        payload = memoryview(buf)[LATENT_HEADER_SIZE:]
        if zlib.crc32(payload) != payload_crc:
            raise ValueError(
                "QuantizedLatent.from_bytes: payload CRC32 mismatch; the data or scales are corrupted.\n"
                "HINT: the stored entry is damaged; drop it and recompute the latent."
            )
        size = itemsize
        data_np = np.frombuffer(buf, dtype=_LE_UINT[size], count=data_n // size, offset=LATENT_HEADER_SIZE)
        scale_np = np.frombuffer(buf, dtype="<f4", count=scale_n // 4, offset=LATENT_HEADER_SIZE + data_n)
        # Copy into native-order, writable arrays owned by the tensors.
        data_t = torch.from_numpy(data_np.astype(data_np.dtype.newbyteorder("="), copy=True))
        data_t = data_t.view(_TORCH_UINT_VIEW[size]).view(dtype).reshape(shape)
        scale_t = torch.from_numpy(scale_np.astype(np.float32, copy=True)).reshape(shape[:3])
        if not bool(torch.isfinite(scale_t).all()) or not bool((scale_t > 0).all()):
            raise ValueError(
                "QuantizedLatent.from_bytes: scales must be finite and > 0; "
                "the bytes are not a valid QuantizedLatent.\n"
                "HINT: the stored entry is damaged; drop it and recompute the latent."
            )
        out = cls(data_t, scale_t, orig)
        return out if torch.device(device).type == "cpu" else out.to(device)
