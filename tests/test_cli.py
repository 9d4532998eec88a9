"""The command line on real data: info, eval --json, export, and errors on stderr with a non-zero exit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from depthviewer.cli import main
from depthviewer.io.ply import read_ply

KITTI_FX, KITTI_BASELINE = 721.5377, (44.85728 + 339.5242) / 721.5377


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class TestInfo:
    def test_kitti2015(self, capsys, kitti2015_dir):
        code, out, _ = run(capsys, "info", str(kitti2015_dir))
        assert code == 0
        assert "kitti2015" in out and "1242" in out and "375" in out
        assert "721.5377" in out and "0.5327" in out

    def test_middlebury_without_calibration_says_so(self, capsys, middlebury_dir):
        code, out, _ = run(capsys, "info", str(middlebury_dir))
        assert code == 0
        assert "middlebury2014" in out and "--calib" in out

    def test_missing_folder_names_it(self, capsys, tmp_path):
        code, _, err = run(capsys, "info", str(tmp_path / "nowhere"))
        assert code == 2
        assert "nowhere" in err and err.startswith("depthviewer: error:")


class TestEval:
    def test_kitti_json(self, capsys, kitti2015_dir):
        code, out, _ = run(capsys, "eval", str(kitti2015_dir), "--backend", "sgbm", "--json")
        assert code == 0
        report = json.loads(out)
        assert report["backend"] == "sgbm" and report["device"] == "cpu"
        (frame,) = report["frames"]
        assert frame["name"] == "000000_10.png"
        metrics = frame["metrics"]
        for key in ("photometric", "lr_consistency", "d1_all", "d1_est", "epe", "bad2", "density"):
            assert key in metrics, key
        assert 3.0 < metrics["d1_all"] < 12.0
        assert 0.02 < metrics["photometric"] < 0.3
        assert report["mean"]["d1_all"] == pytest.approx(metrics["d1_all"])

    def test_middlebury_adds_its_metrics(self, capsys, middlebury_dir):
        code, out, _ = run(capsys, "eval", str(middlebury_dir), "--json",
                           "--set", "num_disparities=96", "--set", "block_size=3")
        assert code == 0
        metrics = json.loads(out)["frames"][0]["metrics"]
        for key in ("bad0.5", "bad1", "bad2", "bad4", "avgerr", "rms", "d1_all"):
            assert key in metrics, key
        assert metrics["bad0.5"] >= metrics["bad1"] >= metrics["bad2"] >= metrics["bad4"]
        assert metrics["bad2"] < 25.0

    def test_unknown_backend(self, capsys, kitti2015_dir):
        code, _, err = run(capsys, "eval", str(kitti2015_dir), "--backend", "magic")
        assert code == 2 and "magic" in err

    def test_bad_parameter_syntax(self, capsys, kitti2015_dir):
        code, _, err = run(capsys, "eval", str(kitti2015_dir), "--set", "block_size")
        assert code == 2 and "KEY=VALUE" in err


class TestExport:
    def test_ply_points_have_the_depth_of_their_disparity(self, capsys, kitti2015_dir, tmp_path):
        code, out, _ = run(capsys, "export", str(kitti2015_dir), "--out", str(tmp_path), "--format", "ply")
        assert code == 0
        points, colours, comments = read_ply(tmp_path / "000000_10.ply")
        assert len(points) > 300_000 and colours is not None and colours.shape == (len(points), 3)
        assert any("camera frame" in c for c in comments)
        # Every depth is fx * baseline / d for some positive disparity inside SGBM's range.
        disparity = KITTI_FX * KITTI_BASELINE / points[:, 2]
        assert disparity.min() > 0 and disparity.max() <= 128 + 1e-3

    def test_npy_depth_matches_the_disparity(self, capsys, kitti2015_dir, tmp_path):
        code, _, _ = run(capsys, "export", str(kitti2015_dir), "--out", str(tmp_path), "--format", "npy")
        assert code == 0
        depth = np.load(tmp_path / "000000_10.npy")
        assert depth.shape == (375, 1242) and depth.dtype == np.float32
        assert 0.7 < np.isfinite(depth).mean() < 1.0
        assert np.nanmin(depth) > 0

    def test_without_calibration_is_refused_naming_the_folder(self, capsys, middlebury_dir, tmp_path):
        code, _, err = run(capsys, "export", str(middlebury_dir), "--out", str(tmp_path))
        assert code == 2
        assert "middlebury2014_motorcycle_Q" in err and "--calib" in err
        assert not list(tmp_path.iterdir())

    def test_calibration_from_options(self, capsys, middlebury_dir, tmp_path):
        # Middlebury Motorcycle, quarter size (shared/data/README.md): f, baseline, doffs, principal point.
        code, _, _ = run(capsys, "export", str(middlebury_dir), "--out", str(tmp_path), "--format", "npy",
                         "--focal-px", str(994.978 / 1), "--baseline-m", "0.193001", "--doffs-px", "28.6",
                         "--cx-px", "310.2", "--cy-px", "253.9", "--set", "num_disparities=96")
        assert code == 0
        depth = np.load(tmp_path / "middlebury2014_motorcycle_Q.npy")
        # The motorcycle stands about 2-4 m from the rig.
        assert 1.5 < np.nanmedian(depth) < 5.0

    def test_unwritable_output_is_reported(self, capsys, kitti2015_dir, tmp_path):
        blocker = tmp_path / "file"
        blocker.write_text("not a folder")
        code, _, err = run(capsys, "export", str(kitti2015_dir), "--out", str(blocker / "sub"))
        assert code == 2 and "file" in err


def test_backends_lists_sgbm(capsys):
    code, out, _ = run(capsys, "backends")
    assert code == 0 and out.startswith("sgbm\tstereo\tcpu")


class TestExportFormats:
    def test_cli_lists_every_format_the_exporter_writes(self):
        from depthviewer.cli import EXPORT_FORMATS
        from depthviewer.exporting import FORMATS

        assert set(EXPORT_FORMATS) == set(FORMATS)
        assert all(EXPORT_FORMATS[k][0] == FORMATS[k][0] for k in FORMATS)

    def test_every_format_round_trips(self, capsys, kitti2015_dir, tmp_path):
        from depthviewer.io.kitti_png import read_kitti_depth, read_kitti_disparity
        from depthviewer.io.pfm import read_pfm

        code, out, _ = run(capsys, "export", str(kitti2015_dir), "--out", str(tmp_path),
                           "--format", "ply,ply-ascii,npy,disparity-png,depth-png,pfm,colour-png")
        assert code == 0 and len(out.split()) == 7
        depth = np.load(tmp_path / "000000_10.npy")
        disparity = read_kitti_disparity(tmp_path / "000000_10_disp.png")
        pfm = read_pfm(tmp_path / "000000_10.pfm")
        finite = np.isfinite(pfm)
        assert np.isinf(pfm[~finite]).all() and 0.7 < finite.mean() < 1.0
        # KITTI's PNG has no code for a disparity of exactly 0 (0 means "none"); every other value matches.
        positive = finite & (pfm > 0)
        assert np.array_equal(positive, np.isfinite(disparity))
        assert np.allclose(disparity[positive], pfm[positive], atol=1 / 512)
        kitti_depth = read_kitti_depth(tmp_path / "000000_10_depth.png")
        near = np.isfinite(kitti_depth) & (depth < 200)
        assert np.allclose(kitti_depth[near], depth[near], atol=1 / 512)
        binary, _, _ = read_ply(tmp_path / "000000_10.ply")
        ascii_points, _, _ = read_ply(tmp_path / "000000_10_ascii.ply")
        assert len(binary) == len(ascii_points) == np.isfinite(depth).sum()
        import cv2

        colour = cv2.imread(str(tmp_path / "000000_10_disp_colour.png"))
        assert colour.shape == (375, 1242, 3) and len(np.unique(colour.reshape(-1, 3), axis=0)) > 100

    def test_unknown_format(self, capsys, kitti2015_dir, tmp_path):
        code, _, err = run(capsys, "export", str(kitti2015_dir), "--out", str(tmp_path), "--format", "obj")
        assert code == 2 and "obj" in err and "ply" in err


class TestDevice:
    def test_cpu_is_accepted_and_reported(self, capsys, kitti2015_dir):
        code, out, _ = run(capsys, "eval", str(kitti2015_dir), "--json", "--device", "cpu", "--backend", "torch-sgm",
                           "--set", "num_disparities=64")
        assert code == 0
        report = json.loads(out)
        assert report["device"] == "cpu" and report["analysis_device"] == "cpu"

    def test_a_missing_gpu_is_a_clear_error(self, capsys, kitti2015_dir):
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
        code, _, err = run(capsys, "eval", str(kitti2015_dir), "--device", "cuda")
        assert code == 2 and "no CUDA GPU" in err

    def test_unknown_device(self, capsys, kitti2015_dir):
        code, _, err = run(capsys, "eval", str(kitti2015_dir), "--device", "tpu")
        assert code == 2 and "unknown device" in err
