"""Loading users' model files, which are untrusted input: nothing in them may run code on load.

- State dicts (`.pth`): `torch.load(weights_only=True)`, which only rebuilds tensors and plain containers
  and refuses any other Python object; then every key and shape is checked against the module it is for.
- torch.export archives (`.pt2`): `torch.export.load` unpickles parts of the archive with `weights_only=False`,
  passes shape expressions to `sympy.sympify` (an `eval`) and resolves call targets by name, so the archive is
  vetted first: only the members `torch.export.save` writes for a plain program, each name once; no pickled
  payloads besides sample inputs that load under `weights_only=True`; call targets and operator arguments from
  a fixed list of operator namespaces; shape expressions made of a fixed vocabulary.
- TorchScript (`.pt`): `torch.jit.load` reads it in C++ (no Python unpickling); the check here only makes
  sure the file is a TorchScript archive, so a Python pickle gets a clear message. Its code is TorchScript,
  a program: run only models from people you trust.

Also here, shared by the network backends: the device a model loads onto, and the input image check.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from depthviewer.errors import InputError

_MAX_LISTED = 5


def _few(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _MAX_LISTED else "")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (terminal colour codes removed), or its type's name when the
    message is empty (EOFError())."""
    lines = _ANSI.sub("", str(exc)).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def require_file(path: str | Path, what: str) -> Path:
    """The path as a Path; InputError unless it is an existing file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found" if not path.exists() else f"{what} expected, found a folder", path)
    return path


def _read_archive(path: Path, what: str) -> io.BytesIO:
    try:
        return io.BytesIO(path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read the {what} ({exc.strerror or exc})", path) from exc


# What zipfile raises for a damaged archive whose end record still looks right (so is_zipfile passed): a bad
# central directory or header, a CRC mismatch, a truncated or undecompressible member, an unknown compression
# method, an encrypted member (RuntimeError).
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError, OSError)


_PICKLE_PROTOCOLS = frozenset(bytes([protocol]) for protocol in range(2, 6))
# The reason in torch's weights_only message: "WeightsUnpickler error: Unsupported global: GLOBAL exec was not an
# allowed global by default. ..." -> "Unsupported global: GLOBAL exec"; "... error: \n\nUnsupported operand 103".
_WEIGHTS_ONLY_REASON = re.compile(r"WeightsUnpickler error:\s*(.+?)(?: was not an allowed global|\.\s|$)",
                                  re.MULTILINE)


def load_state_dict_file(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a plain state dict saved with `torch.save`, refusing anything that would run code.

    Returns the dict as stored (tensors, and whatever plain values sit beside them, e.g. Monodepth2's
    `height`). InputError naming the file when it is missing, is not a PyTorch file, holds Python objects
    other than tensors, or is not a dict with string keys.
    """
    path = require_file(path, "checkpoint")
    with path.open("rb") as handle:
        head = handle.read(2)
    if not head:
        raise InputError("not a PyTorch checkpoint (the file is empty)", path)
    # A binary pickle starts with PROTO (0x80) and its protocol; the text protocols 0 and 1 torch.save never used.
    if not zipfile.is_zipfile(path) and not (head[:1] == b"\x80" and head[1:2] in _PICKLE_PROTOCOLS):
        raise InputError("not a PyTorch checkpoint: torch.save writes a zip archive (or, before PyTorch 1.6, a "
                         "binary pickle), and this file is neither", path)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)  # noise about a bad file
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = _WEIGHTS_ONLY_REASON.search(str(exc))
        reason = found.group(1) if found else first_line(exc)
        if "global" not in reason.lower():
            raise InputError(f"not a PyTorch checkpoint (a damaged pickle: {reason})", path) from None
        # weights_only refuses every global outside torch's allowlist: this is where a malicious pickle stops.
        raise InputError(
            "refused to load: the checkpoint holds Python objects other than tensors, and unpickling them "
            f"could run code ({reason})",
            path,
        ) from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a file that is not a checkpoint
        raise InputError(f"not a PyTorch checkpoint ({type(exc).__name__}: {first_line(exc)})", path) from None
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        raise InputError(f"expected a state dict (names -> tensors), found {type(state).__name__}", path)
    return state


def load_weights(module: nn.Module, state: Mapping[str, Any], path: str | Path) -> None:
    """Copy `state` into `module` after checking that the names and shapes match exactly.

    The module may be built on the meta device (no initialisation): the file's tensors are assigned to it.
    Only BatchNorm's `num_batches_tracked` counters may be absent (files from before PyTorch 0.4.1; unused
    at inference). InputError naming the file and listing a few missing, unexpected or misshapen entries.
    """
    expected = module.state_dict()
    state = dict(state)
    for key in expected:
        if key.endswith(".num_batches_tracked") and key not in state:
            state[key] = torch.zeros((), dtype=torch.long)
    missing = [key for key in expected if key not in state]
    extra = [key for key in state if key not in expected]
    problems = []
    if missing:
        problems.append(f"missing keys: {_few(missing)}")
    if extra:
        problems.append(f"unexpected keys: {_few(extra)}")
    if problems:
        raise InputError("; ".join(problems), path)
    not_tensors = [key for key in expected if not isinstance(state[key], torch.Tensor)]
    if not_tensors:
        raise InputError(f"entries that should be tensors are not: {_few(not_tensors)}", path)
    wrong = [
        f"{key}: expected {tuple(value.shape)}, found {tuple(state[key].shape)}"
        for key, value in expected.items()
        if tuple(state[key].shape) != tuple(value.shape)
    ]
    wrong += [
        f"{key}: expected {value.dtype}, found {state[key].dtype}"
        for key, value in expected.items()
        if state[key].is_floating_point() != value.is_floating_point()
    ]
    if wrong:
        raise InputError(f"wrong shapes or types: {_few(wrong)}", path)
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:  # tensors that pass the checks above but cannot be used (e.g. sparse ones)
        raise InputError(f"the weights cannot be loaded: {first_line(exc)}", path) from None


# ---- torch.export archives ------------------------------------------------------------------------------

# Members `torch.export.save` writes for a plain exported program, relative to the archive's top folder.
_PT2_MEMBERS = re.compile(
    r"archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/\w+\.json|data/weights/(weight_\d+|\w+_weights_config\.json)"
    r"|data/constants/(tensor_\d+|\w+_constants_config\.json)|data/sample_inputs/\w+\.pt|extra/[^/]+"
)
_OP_NAMESPACES = ("aten", "prims", "higher_order", "torchvision")
_NAME = r"(?!__)\w+"
_PT2_TARGET = re.compile(
    rf"torch\.ops\.({'|'.join(_OP_NAMESPACES)})\.{_NAME}(\.{_NAME})?"
    r"|_operator\.(getitem|add|sub|mul|truediv|floordiv|mod|pow|neg|pos|abs|eq|ne|lt|le|gt|ge|and_|or_|xor"
    r"|not_|invert|lshift|rshift)"
    rf"|math\.{_NAME}|torch\._?sym_\w+"
)
# Shape expressions are sympy's `srepr`; sympify evaluates them, so only this vocabulary may appear.
_SYMPY_WORDS = frozenset(
    "Symbol Dummy Integer Float Rational Half One Zero NegativeOne Mul Add Pow Mod Max Min Abs sqrt floor ceiling "
    "Eq Ne Lt Le Gt Ge Equality Unequality StrictLessThan StrictGreaterThan LessThan GreaterThan And Or Not "
    "true false True False oo zoo nan int_oo Infinity NegativeInfinity IntInfinity NegativeIntInfinity Piecewise "
    "ITE FloorDiv ModularIndexing Where PythonMod CleanDiv CeilToInt FloorToInt CeilDiv LShift RShift "
    "PowByNatural FloatPow FloatTrueDiv IntTrueDiv IsNonOverlappingAndDenseIndicator TruncToFloat TruncToInt "
    "RoundToInt RoundDecimal ToFloat Identity "
    "positive negative nonnegative nonpositive integer real finite commutative precision evaluate".split()
)
_SYMBOL_NAME = re.compile(r"[a-z]{1,4}\d+")
_QUOTED = re.compile(r"'[A-Za-z0-9_.+\-]*'")
_EXPR_CHARS = re.compile(r"[\w\s.,()+\-*/=<>!&|~%]*")
_WORD = re.compile(r"\b[A-Za-z_]\w*")


def _safe_expression(expr: str) -> bool:
    if "__" in expr:
        return False
    bare = _QUOTED.sub("0", expr)
    if not _EXPR_CHARS.fullmatch(bare):
        return False
    return all(word in _SYMPY_WORDS or _SYMBOL_NAME.fullmatch(word) for word in _WORD.findall(bare))


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _vet_program_json(data: bytes, member: str, path: Path) -> None:
    try:
        program = json.loads(data)
        nodes = list(_walk(program))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(f"{member} is not JSON", path) from None
    except RecursionError:
        raise InputError(f"refused to load: {member} is nested too deeply", path) from None
    for node in nodes:
        # A node's target, and an operator passed as an argument (higher-order ops call it), are resolved
        # by name with getattr from `torch`, `_operator` or `math`: only operators may come out.
        for target in (node.get("target") if "inputs" in node else None, node.get("as_operator")):
            if isinstance(target, str) and not _PT2_TARGET.fullmatch(target):
                raise InputError(f"refused to load: the program calls {target!r}, outside the operator "
                                 f"namespaces {', '.join(_OP_NAMESPACES)}", path)
        expr = node.get("expr_str")
        if isinstance(expr, str) and not _safe_expression(expr):
            raise InputError(f"refused to load: a shape expression holds more than symbols and arithmetic: "
                             f"{expr[:80]!r}", path)


def _vet_payload_config(data: bytes, member: str, path: Path) -> None:
    try:
        entries = json.loads(data).get("config", {})
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        raise InputError(f"{member} is not a payload configuration", path) from None
    for name, meta in entries.items():
        if not isinstance(meta, dict) or meta.get("use_pickle") is not False:
            raise InputError(f"refused to load: {name!r} is stored as a pickled Python object", path)


def vet_export_archive(path: str | Path) -> io.BytesIO:
    """Read a `.pt2` file and check that it is a plain `torch.export.save` archive that loads without running code.

    Returns the vetted bytes, to hand to `torch.export.load` (the file is read once, so what is loaded is what
    was checked); InputError naming the file and the first thing refused otherwise (see the module doc).
    """
    path = require_file(path, "torch.export archive")
    buffer = _read_archive(path, "torch.export archive")
    if not zipfile.is_zipfile(buffer):
        raise InputError("not a torch.export archive (.pt2 is a zip file; this is not)", path)
    try:
        _vet_export_members(buffer, path)
    except _ZIP_ERRORS as exc:
        raise InputError(f"not a readable torch.export archive: the zip file is damaged ({exc})", path) from None
    buffer.seek(0)
    return buffer


def _vet_export_members(buffer: io.BytesIO, path: Path) -> None:
    """The checks of vet_export_archive on the zip's members; zipfile's own errors pass up."""
    with zipfile.ZipFile(buffer) as archive:
        names = [name for name in archive.namelist() if not name.endswith("/")]
        if len({name.lower() for name in names}) != len(names):
            # Python reads the last of two same-named members, PyTorch's reader (case-insensitive) the first.
            raise InputError("refused to load: the archive has members with the same name", path)
        top = {name.split("/", 1)[0] for name in names}
        if len(top) != 1 or any("/" not in name for name in names):
            raise InputError("not a torch.export archive (expected one top folder)", path)
        prefix = f"{top.pop()}/"
        inner = [name[len(prefix):] for name in names]
        foreign = [name for name in inner if not _PT2_MEMBERS.fullmatch(name)]
        if foreign:
            raise InputError(f"refused to load: members a plain exported program does not have: {_few(foreign)} "
                             "(compiled code, pickled objects, or an older format)", path)
        if not any(name.startswith("models/") for name in inner):
            raise InputError("not a torch.export archive (no models/*.json)", path)
        for name in inner:
            data = archive.read(prefix + name)
            if name.startswith("models/"):
                _vet_program_json(data, name, path)
            elif name.endswith("_config.json"):
                _vet_payload_config(data, name, path)
            elif name.startswith("data/sample_inputs/"):
                # torch.export.load retries these with weights_only=False when weights_only=True fails.
                try:
                    torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
                except Exception:  # noqa: BLE001
                    raise InputError(f"refused to load: {name} holds Python objects other than tensors", path) from None


def vet_torchscript_archive(path: str | Path) -> io.BytesIO:
    """Read a file and check that it is a TorchScript archive (a zip with code/ and constants.pkl).

    Returns the bytes, to hand to `torch.jit.load`; InputError naming the file otherwise.
    """
    path = require_file(path, "TorchScript file")
    buffer = _read_archive(path, "TorchScript file")
    if not zipfile.is_zipfile(buffer):
        raise InputError("not a TorchScript file (it is not a zip archive; a Python pickle is refused)", path)
    try:
        with zipfile.ZipFile(buffer) as archive:
            inner = [name.split("/", 1)[-1] for name in archive.namelist()]
    except _ZIP_ERRORS as exc:
        raise InputError(f"not a readable TorchScript file: the zip file is damaged ({exc})", path) from None
    if "constants.pkl" not in inner or not any(name.startswith("code/") for name in inner):
        raise InputError("not a TorchScript file (no code/ or constants.pkl; a torch.save checkpoint is not a "
                         "model: export with torch.jit.script(model).save(path))", path)
    buffer.seek(0)
    return buffer


# ---- what a loaded network is given ----------------------------------------------------


def check_image(image_rgb: np.ndarray) -> None:
    """Raise ValueError unless the image is (H, W, 3) uint8, the project's image convention."""
    if not isinstance(image_rgb, np.ndarray) or image_rgb.ndim != 3 or image_rgb.shape[2] != 3 \
            or image_rgb.dtype != np.uint8:
        shape = getattr(image_rgb, "shape", None)
        raise ValueError(f"image must be (H, W, 3) uint8, got {shape} {getattr(image_rgb, 'dtype', type(image_rgb))}")
