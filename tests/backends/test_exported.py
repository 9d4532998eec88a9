"""Exported whole models (torch.export, TorchScript, ONNX): one contract, checked on models the tests save."""

from __future__ import annotations

import importlib.util
import pickle
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.export import Dim

from depthviewer.backends import backend_info, create_backend
from depthviewer.backends.base import MonocularBackend
from depthviewer.backends.exported import OnnxBackend, TorchExportBackend, TorchScriptBackend
from depthviewer.errors import BackendError, InputError

HAVE_ONNX = all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))
ONNX = pytest.param("onnx", marks=pytest.mark.skipif(
    not HAVE_ONNX, reason="onnxruntime / onnx not installed (optional extra: pip install onnxruntime onnx)"))
FORMATS = ["torch-export", "torchscript", ONNX]
SUFFIX = {"torch-export": ".pt2", "torchscript": ".pt", "onnx": ".onnx"}
CLASSES = {"torch-export": TorchExportBackend, "torchscript": TorchScriptBackend, "onnx": OnnxBackend}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class TinyNet(nn.Module):
    """N x 3 x H x W -> N x 1 x H x W, positive: a stand-in for a user's depth or disparity network."""

    def __init__(self, channels: int = 1) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.conv(x)) + 0.5


class SignedNet(TinyNet):
    """Negative and positive values: the backend must blank the non-positive ones."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1] - 0.5


def save_model(fmt: str, path: Path, output: str | None = None, net: nn.Module | None = None,
               dynamic: bool = True) -> Path:
    """Save `net` (default TinyNet) in format `fmt`, declaring `output` the way that format declares it."""
    net = (net or TinyNet()).eval()
    example = torch.rand(1, 3, 16, 24)
    if fmt == "torch-export":
        shapes = ({2: Dim("h", min=4, max=2048), 3: Dim("w", min=4, max=2048)},) if dynamic else None
        program = torch.export.export(net, (example,), dynamic_shapes=shapes)
        extra = {"depthviewer.json": f'{{"output": "{output}"}}'} if output else None
        torch.export.save(program, path, extra_files=extra)
    elif fmt == "torchscript":
        if output:
            net.output = output
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch.jit.script(net).save(str(path))
    else:
        import onnx

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(net, (example,), str(path), dynamo=False, input_names=["image"], output_names=["out"],
                              dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}, "out": {0: "n", 2: "h", 3: "w"}})
        if output:
            model = onnx.load(str(path))
            onnx.helper.set_model_props(model, {"output": output})
            onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Callable[[str, str | None], Path]:
    """TinyNet saved in a format, with or without a declared output; each saved once per module."""
    cache: dict[tuple[str, str | None], Path] = {}
    folder = tmp_path_factory.mktemp("exported")

    def get(fmt: str, output: str | None = None) -> Path:
        if (fmt, output) not in cache:
            cache[fmt, output] = save_model(fmt, folder / f"tiny_{output}{SUFFIX[fmt]}", output)
        return cache[fmt, output]

    return get


def _image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _reference(image_rgb: np.ndarray, net: nn.Module | None = None) -> np.ndarray:
    x = torch.from_numpy(image_rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    with torch.no_grad():
        return (net or TinyNet()).eval()(x)[0, 0].numpy()


@pytest.mark.parametrize("fmt", FORMATS)
class TestContract:
    def test_depth_model_at_two_frame_sizes(self, saved, fmt):
        backend = create_backend(fmt, model=saved(fmt, "depth"), device="cpu")
        assert isinstance(backend, MonocularBackend) and backend.kind == "monocular" and backend.name == fmt
        assert backend.output_kind == "depth" and backend.output_source == "declared in the file"
        for height, width in ((48, 64), (37, 50)):
            image = _image(height, width, seed=height)
            prediction = backend.predict_depth(image)
            assert prediction.depth_m.shape == (height, width) and prediction.depth_m.dtype == np.float32
            np.testing.assert_allclose(prediction.depth_m, _reference(image), rtol=1e-5)
            assert prediction.metric is True and prediction.backend == fmt and prediction.device == "cpu"

    def test_undeclared_output_is_disparity_and_needs_the_camera(self, saved, fmt):
        with pytest.raises(BackendError, match=r"outputs disparity in pixels \(not declared.*fx_px \* baseline_m"):
            create_backend(fmt, model=saved(fmt), device="cpu")
        backend = create_backend(fmt, model=saved(fmt), device="cpu", disparity_to_depth_factor=721.5 * 0.54)
        image = _image(30, 40)
        np.testing.assert_allclose(backend.predict_depth(image).depth_m, 721.5 * 0.54 / _reference(image), rtol=1e-5)
        assert "389.61 / disparity" in backend.scale_note

    def test_declared_disparity(self, saved, fmt):
        backend = create_backend(fmt, model=saved(fmt, "disparity"), device="cpu", disparity_to_depth_factor=10.0)
        assert backend.output_kind == "disparity" and backend.output_source == "declared in the file"

    def test_the_users_choice_wins(self, saved, fmt):
        backend = create_backend(fmt, model=saved(fmt), device="cpu", model_output="depth")
        assert backend.output_kind == "depth" and backend.output_source == "model_output argument"
        backend = create_backend(fmt, model=saved(fmt, "depth"), model_output="disparity",
                                 disparity_to_depth_factor=2.0)
        assert backend.output_kind == "disparity" and "the file says 'depth'" in backend.output_source

    def test_needs_a_model(self, fmt):
        with pytest.raises(BackendError, match=f"backend {fmt} needs --model PATH"):
            create_backend(fmt)
        assert backend_info(fmt)[0] == "monocular"

    def test_missing_file_and_text_file(self, fmt, tmp_path):
        with pytest.raises(InputError, match="model file not found"):
            create_backend(fmt, model=tmp_path / f"none{SUFFIX[fmt]}", model_output="depth")
        fake = tmp_path / f"fake{SUFFIX[fmt]}"
        fake.write_text("not a model\n")
        with pytest.raises(InputError, match=rf"fake\{SUFFIX[fmt]}: not a"):
            create_backend(fmt, model=fake, model_output="depth")

    def test_bad_arguments(self, saved, fmt):
        with pytest.raises(BackendError, match="model_output must be 'depth' or 'disparity'"):
            create_backend(fmt, model=saved(fmt, "depth"), model_output="inverse depth")
        for factor in (0.0, float("nan"), "wide"):
            with pytest.raises(BackendError, match="must be a positive number"):
                create_backend(fmt, model=saved(fmt), disparity_to_depth_factor=factor)

    def test_an_image_of_the_wrong_kind(self, saved, fmt):
        backend = create_backend(fmt, model=saved(fmt, "depth"), device="cpu")
        with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
            backend.predict_depth(np.zeros((8, 8, 3), np.float32))


@pytest.mark.parametrize("fmt", FORMATS)
def test_wrong_output_shape_and_non_positive_values(fmt, tmp_path):
    wide = create_backend(fmt, model=save_model(fmt, tmp_path / f"wide{SUFFIX[fmt]}", "depth", TinyNet(channels=3)))
    with pytest.raises(BackendError, match=r"expected one output of shape \(1, 1, 20, 30\), got \(1, 3, 20, 30\)"):
        wide.predict_depth(_image(20, 30))
    signed = create_backend(fmt, model=save_model(fmt, tmp_path / f"signed{SUFFIX[fmt]}", "disparity", SignedNet()),
                            disparity_to_depth_factor=1.0)
    image = _image(20, 30)
    raw = image[..., 0].astype(np.float32) / 255.0 - 0.5
    depth = signed.predict_depth(image).depth_m
    assert np.array_equal(np.isnan(depth), raw <= 0) and 0 < (raw <= 0).sum() < raw.size
    np.testing.assert_allclose(depth[raw > 0], 1.0 / raw[raw > 0], rtol=1e-5)


class TestTorchExport:
    def test_a_static_program_at_another_size_says_what_the_contract_is(self, tmp_path):
        backend = TorchExportBackend(save_model("torch-export", tmp_path / "s.pt2", "depth", dynamic=False))
        assert backend.predict_depth(_image(16, 24)).depth_m.shape == (16, 24)
        with pytest.raises(BackendError, match="failed on a 1 x 3 x 20 x 30 input .*at the frame's size"):
            backend.predict_depth(_image(20, 30))

    @pytest.mark.parametrize("extra", ['{"outputs": "depth"}', "depth", '{"output": "inverse"}'])
    def test_a_bad_declaration(self, tmp_path, extra):
        program = torch.export.export(TinyNet().eval(), (torch.rand(1, 3, 8, 8),))
        torch.export.save(program, tmp_path / "m.pt2", extra_files={"depthviewer.json": extra})
        with pytest.raises(InputError, match=r"m\.pt2: (depthviewer\.json must be JSON|declares output 'inverse')"):
            TorchExportBackend(tmp_path / "m.pt2")

    def test_a_malicious_archive_is_refused(self, saved, tmp_path):
        import io
        import zipfile

        class Payload:
            def __reduce__(self):
                return (open, (str(tmp_path / "marker"), "w"))

        buffer = io.BytesIO()
        torch.save((Payload(),), buffer)
        with zipfile.ZipFile(saved("torch-export", "depth")) as src, zipfile.ZipFile(tmp_path / "e.pt2", "w") as out:
            for name in src.namelist():
                out.writestr(name, buffer.getvalue() if "/sample_inputs/" in name else src.read(name))
        with pytest.raises(InputError, match="refused to load"):
            TorchExportBackend(tmp_path / "e.pt2")
        assert not (tmp_path / "marker").exists()


class TestTorchScript:
    def test_a_checkpoint_is_not_a_module(self, tmp_path):
        torch.save(TinyNet().state_dict(), tmp_path / "m.pt")
        with pytest.raises(InputError, match=r"m\.pt: not a TorchScript file"):
            TorchScriptBackend(tmp_path / "m.pt", model_output="depth")

    def test_a_malicious_pickle_is_refused(self, tmp_path):
        class Payload:
            def __reduce__(self):
                return (open, (str(tmp_path / "marker"), "w"))

        (tmp_path / "m.pt").write_bytes(pickle.dumps(Payload()))
        with pytest.raises(InputError, match="a Python pickle is refused"):
            TorchScriptBackend(tmp_path / "m.pt", model_output="depth")
        assert not (tmp_path / "marker").exists()

    def test_a_non_string_output_attribute_is_ignored(self, tmp_path):
        net = TinyNet()
        net.output = 3
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch.jit.script(net).save(str(tmp_path / "m.pt"))
        assert TorchScriptBackend(tmp_path / "m.pt", model_output="depth").output_source == "model_output argument"

    def test_the_model_is_loaded_once(self, saved, monkeypatch):
        backend = TorchScriptBackend(saved("torchscript", "depth"), device="cpu")
        monkeypatch.setattr(torch.jit, "load", lambda *a, **k: pytest.fail("loaded again"))
        backend.predict_depth(_image(10, 12))
        backend.predict_depth(_image(10, 12))


class TestOnnx:
    def test_without_onnxruntime_the_error_says_how_to_install(self, monkeypatch, tmp_path):
        monkeypatch.setitem(sys.modules, "onnxruntime", None)
        (tmp_path / "m.onnx").write_bytes(b"")
        with pytest.raises(BackendError, match=r"backend onnx needs onnxruntime.*pip install onnxruntime"):
            OnnxBackend(tmp_path / "m.onnx", model_output="depth")
        assert backend_info("onnx") == ("monocular", "unavailable (pip install onnxruntime)")

    @pytest.mark.skipif(not HAVE_ONNX, reason="onnxruntime / onnx not installed")
    def test_device_label_follows_the_providers(self, saved):
        import onnxruntime

        expected = "cuda" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "cpu"
        assert backend_info("onnx") == ("monocular", expected)
        assert OnnxBackend(saved("onnx", "depth")).device == expected
        if expected == "cpu":
            with pytest.raises(BackendError, match="pip install onnxruntime-gpu"):
                OnnxBackend(saved("onnx", "depth"), device="cuda")

    @pytest.mark.skipif(not HAVE_ONNX, reason="onnxruntime / onnx not installed")
    def test_mps_is_not_an_onnx_device(self, saved):
        for device in ("mps", "toaster"):
            with pytest.raises(BackendError, match="device must be cpu or cuda"):
                OnnxBackend(saved("onnx", "depth"), device=device)
