"""Safe loading of untrusted model files: state dicts, torch.export archives, TorchScript archives.

Each refusal test crafts a file whose loading would create a marker file (a stand-in for an attacker's
code), checks that the file really is dangerous to the unguarded loader, and that ours refuses it first.
"""

from __future__ import annotations

import io
import json
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.export import Dim

from depthviewer.backends.checkpoints import (
    _safe_expression,
    check_image,
    load_state_dict_file,
    load_weights,
    vet_export_archive,
    vet_torchscript_archive,
)
from depthviewer.compute.device import resolve_device
from depthviewer.errors import BackendError, InputError


class Payload:
    """Unpickling this creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).eval()


class TestLoadStateDictFile:
    def test_round_trip_keeps_plain_values(self, tmp_path):
        state = {**_net().state_dict(), "height": 192, "use_stereo": True}
        torch.save(state, tmp_path / "a.pth")
        loaded = load_state_dict_file(tmp_path / "a.pth")
        assert loaded["height"] == 192 and loaded["use_stereo"] is True
        assert torch.equal(loaded["0.weight"], state["0.weight"])

    def test_missing_file(self, tmp_path):
        with pytest.raises(InputError, match="checkpoint not found") as raised:
            load_state_dict_file(tmp_path / "none.pth")
        assert raised.value.path == tmp_path / "none.pth"

    def test_text_file_named_pth(self, tmp_path):
        (tmp_path / "a.pth").write_text("hello\n")
        with pytest.raises(InputError, match=r"a\.pth: not a PyTorch checkpoint"):
            load_state_dict_file(tmp_path / "a.pth")

    def test_not_a_dict(self, tmp_path):
        torch.save(torch.zeros(3), tmp_path / "a.pth")
        with pytest.raises(InputError, match="expected a state dict"):
            load_state_dict_file(tmp_path / "a.pth")

    def test_torch_save_of_a_malicious_object_is_refused(self, tmp_path):
        torch.save({"w": Payload(tmp_path / "marker")}, tmp_path / "evil.pth")
        with pytest.raises(InputError, match=r"evil\.pth: refused to load: .*could run code"):
            load_state_dict_file(tmp_path / "evil.pth")
        assert not (tmp_path / "marker").exists()
        torch.load(tmp_path / "evil.pth", weights_only=False)  # the unguarded loader runs it
        assert (tmp_path / "marker").exists()

    def test_plain_pickle_of_a_malicious_object_is_refused(self, tmp_path):
        (tmp_path / "evil.pth").write_bytes(pickle.dumps({"w": Payload(tmp_path / "marker")}, protocol=2))
        with pytest.raises(InputError, match=r"evil\.pth: refused to load"):
            load_state_dict_file(tmp_path / "evil.pth")
        assert not (tmp_path / "marker").exists()
        pickle.loads((tmp_path / "evil.pth").read_bytes())
        assert (tmp_path / "marker").exists()


class TestLoadWeights:
    def test_loads_into_a_meta_module(self):
        state = _net().state_dict()
        with torch.device("meta"):
            target = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        load_weights(target, state, "x.pth")
        assert torch.equal(target[0].weight, state["0.weight"]) and target[0].weight.device.type == "cpu"

    def test_num_batches_tracked_may_be_absent(self):
        state = {k: v for k, v in _net().state_dict().items() if not k.endswith("num_batches_tracked")}
        load_weights(_net(), state, "old.pth")

    def test_missing_and_unexpected_keys_are_listed(self):
        state = _net().state_dict()
        del state["0.bias"]
        state["2.weight"] = torch.zeros(1)
        with pytest.raises(InputError, match=r"x\.pth: missing keys: 0\.bias; unexpected keys: 2\.weight"):
            load_weights(_net(), state, "x.pth")

    def test_a_long_list_is_cut(self):
        with pytest.raises(InputError, match=r"missing keys: .*, \.\.\. \(6 in all\)"):
            load_weights(_net(), {}, "x.pth")

    def test_wrong_shapes_and_types(self):
        state = _net().state_dict()
        state["0.weight"] = torch.zeros(4, 3, 5, 5)
        state["1.running_mean"] = torch.zeros(4, dtype=torch.long)
        with pytest.raises(InputError, match=r"0\.weight: expected \(4, 3, 3, 3\), found \(4, 3, 5, 5\), "
                                             r"1\.running_mean: expected torch\.float32, found torch\.int64"):
            load_weights(_net(), state, "x.pth")

    def test_non_tensor_in_place_of_a_weight(self):
        state = _net().state_dict()
        state["0.bias"] = 3
        with pytest.raises(InputError, match="should be tensors are not: 0.bias"):
            load_weights(_net(), state, "x.pth")


class TinyDepth(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.softplus(self.conv(x)) + 0.5


@pytest.fixture(scope="module")
def program_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pt2") / "tiny.pt2"
    program = torch.export.export(TinyDepth().eval(), (torch.rand(1, 3, 16, 24),),
                                  dynamic_shapes=({2: Dim("h", min=4, max=4096), 3: Dim("w", min=4, max=4096)},))
    torch.export.save(program, path, extra_files={"depthviewer.json": '{"output": "depth"}'})
    return path


def _rewrite(src: Path, dst: Path, change=None, add: dict[str, bytes] | None = None) -> Path:
    """Copy an archive, passing each member (name under the top folder, bytes) through `change`."""
    with zipfile.ZipFile(src) as archive, zipfile.ZipFile(dst, "w") as out:
        prefix = archive.namelist()[0].split("/", 1)[0] + "/"
        for name in archive.namelist():
            data = archive.read(name)
            out.writestr(name, change(name[len(prefix):], data) if change else data)
        for name, data in (add or {}).items():
            out.writestr(prefix + name, data)
    return dst


def _pickled(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


class TestExportArchive:
    def test_a_plain_program_passes(self, program_file):
        vetted = vet_export_archive(program_file)
        assert vetted.getvalue() == program_file.read_bytes()
        assert torch.export.load(vetted).module()(torch.rand(1, 3, 8, 8)).shape == (1, 1, 8, 8)

    def test_not_a_zip(self, tmp_path):
        (tmp_path / "m.pt2").write_text("text")
        with pytest.raises(InputError, match=r"m\.pt2: not a torch.export archive"):
            vet_export_archive(tmp_path / "m.pt2")

    def test_a_zip_of_something_else(self, tmp_path):
        with zipfile.ZipFile(tmp_path / "m.pt2", "w") as archive:
            archive.writestr("m/readme.txt", "hi")
        with pytest.raises(InputError, match="refused to load: members .* readme.txt"):
            vet_export_archive(tmp_path / "m.pt2")

    def test_malicious_sample_inputs_are_refused(self, program_file, tmp_path):
        marker = tmp_path / "marker"
        evil = _rewrite(program_file, tmp_path / "evil.pt2",
                        lambda name, data: _pickled((Payload(marker),)) if "sample_inputs/" in name else data)
        with pytest.raises(InputError, match=r"evil\.pt2: refused to load: data/sample_inputs/\w+\.pt holds Python"):
            vet_export_archive(evil)
        assert not marker.exists()
        try:  # torch.export.load retries the sample inputs with weights_only=False
            torch.export.load(evil)
        except Exception:  # noqa: BLE001
            pass
        if not marker.exists():
            pytest.skip("this torch no longer unpickles sample inputs with weights_only=False")

    def test_code_in_a_shape_expression_is_refused(self, program_file, tmp_path):
        marker = tmp_path / "marker"

        def inject(name: str, data: bytes) -> bytes:
            if not name.startswith("models/"):
                return data
            text = data.decode()
            symbol = text.split('"expr_str": "', 1)[1].split('"', 1)[0]
            return text.replace(symbol, f"Add({symbol}, Integer(0 * len(open(r'{marker}', 'w').name)))", 1).encode()

        evil = _rewrite(program_file, tmp_path / "evil.pt2", inject)
        with pytest.raises(InputError, match="refused to load: a shape expression"):
            vet_export_archive(evil)
        assert not marker.exists()
        try:  # sympify evaluates the expression while torch.export.load deserialises the graph
            torch.export.load(evil)
        except Exception:  # noqa: BLE001
            pass
        if not marker.exists():
            pytest.skip("this torch no longer evaluates shape expressions with sympify")

    def test_a_foreign_call_target_is_refused(self, program_file, tmp_path):
        evil = _rewrite(program_file, tmp_path / "evil.pt2",
                        lambda name, data: data.replace(b"torch.ops.aten.conv2d.default", b"builtins.eval")
                        if name.startswith("models/") else data)
        with pytest.raises(InputError, match="the program calls 'builtins.eval'"):
            vet_export_archive(evil)

    def test_a_foreign_operator_argument_is_refused(self, program_file, tmp_path):
        def inject(name: str, data: bytes) -> bytes:
            if not name.startswith("models/"):
                return data
            program = json.loads(data)
            program["graph_module"]["graph"]["nodes"][0]["inputs"].append(
                {"name": "op", "arg": {"as_operator": "torch.serialization.os.system"}, "kind": 1})
            return json.dumps(program).encode()

        evil = _rewrite(program_file, tmp_path / "evil.pt2", inject)
        with pytest.raises(InputError, match="the program calls 'torch.serialization.os.system'"):
            vet_export_archive(evil)

    def test_duplicate_members_are_refused(self, program_file, tmp_path):
        with zipfile.ZipFile(program_file) as archive:
            sample = next(name for name in archive.namelist() if "/sample_inputs/" in name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate name
            evil = _rewrite(program_file, tmp_path / "evil.pt2", add={sample.split("/", 1)[1]: _pickled((1,))})
        with pytest.raises(InputError, match="members with the same name"):
            vet_export_archive(evil)

    def test_pickled_weights_are_refused(self, program_file, tmp_path):
        evil = _rewrite(program_file, tmp_path / "evil.pt2",
                        lambda name, data: data.replace(b'"use_pickle": false', b'"use_pickle": true')
                        if name.endswith("weights_config.json") else data)
        with pytest.raises(InputError, match="stored as a pickled Python object"):
            vet_export_archive(evil)

    @pytest.mark.parametrize("member", ["data/aotinductor/model/model.so", "data/constants/custom_obj_0",
                                        "data/weights/model.pt"])
    def test_compiled_code_custom_objects_and_legacy_files_are_refused(self, program_file, tmp_path, member):
        evil = _rewrite(program_file, tmp_path / "evil.pt2", add={member: b"\x00"})
        with pytest.raises(InputError, match=f"members a plain exported program does not have: {member}"):
            vet_export_archive(evil)


class TestSafeExpression:
    @pytest.mark.parametrize("expr", [
        "Symbol('s31', positive=True, integer=True)",
        "Mul(Integer(3), Symbol('s16', positive=True, integer=True), Symbol('s82', positive=True, integer=True))",
        "FloorDiv(Add(Symbol('s0', integer=True), Integer(-1)), Integer(32))",
        "Max(Integer(2), Float('1.5', precision=53))",
        "s0*s1 + 2",
    ])
    def test_accepts_what_torch_writes(self, expr):
        assert _safe_expression(expr)

    @pytest.mark.parametrize("expr", [
        "__import__('os').system('true')",
        "Integer(len(open('x', 'w').name))",
        "eval(chr(49))",
        "Symbol('s0').__class__",
        "Symbol('a b')",
        "Integer(1)[0]",
        "Symbol(\"s0\")",
        "lambda: 1",
    ])
    def test_refuses_anything_else(self, expr):
        assert not _safe_expression(expr)


class ScriptedDepth(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)
        self.output = "depth"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class TestTorchScriptArchive:
    def test_a_scripted_module_passes(self, tmp_path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated; users still have such files
            torch.jit.script(ScriptedDepth()).save(str(tmp_path / "m.pt"))
        assert vet_torchscript_archive(tmp_path / "m.pt").getvalue() == (tmp_path / "m.pt").read_bytes()

    def test_a_checkpoint_is_not_a_module(self, tmp_path):
        torch.save(ScriptedDepth().state_dict(), tmp_path / "m.pt")
        with pytest.raises(InputError, match=r"m\.pt: not a TorchScript file \(no code/"):
            vet_torchscript_archive(tmp_path / "m.pt")

    def test_a_python_pickle_is_refused(self, tmp_path):
        (tmp_path / "m.pt").write_bytes(pickle.dumps(Payload(tmp_path / "marker")))
        with pytest.raises(InputError, match="not a zip archive; a Python pickle is refused"):
            vet_torchscript_archive(tmp_path / "m.pt")
        assert not (tmp_path / "marker").exists()


class TestDeviceAndImage:
    def test_resolve_device(self):
        assert resolve_device("cpu", "x") == torch.device("cpu")
        assert resolve_device(None, "x").type in ("cpu", "cuda", "mps")
        with pytest.raises(BackendError, match="x: unknown device 'toaster'"):
            resolve_device("toaster", "x")

    @pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
    def test_cuda_without_a_gpu(self):
        with pytest.raises(BackendError, match="sees no CUDA GPU"):
            resolve_device("cuda", "x")

    def test_check_image(self):
        check_image(np.zeros((4, 5, 3), np.uint8))
        for bad in (np.zeros((4, 5), np.uint8), np.zeros((4, 5, 3), np.float32), [[1, 2, 3]]):
            with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
                check_image(bad)


def test_the_payload_config_format_is_what_torch_writes(program_file):
    """The vetting reads `use_pickle` from the configs: make sure torch still writes that field."""
    with zipfile.ZipFile(program_file) as archive:
        config = next(n for n in archive.namelist() if n.endswith("weights_config.json"))
        entries = json.loads(archive.read(config))["config"]
    assert entries and all(entry["use_pickle"] is False for entry in entries.values())
