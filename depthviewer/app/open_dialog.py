"""Opening a video or image sequence together with its poses and intrinsics files."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)


def _chooser(line: QLineEdit, pick) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    button = QPushButton("…")
    button.clicked.connect(pick)
    layout.addWidget(line, 1)
    layout.addWidget(button)
    return row


class OpenSequenceDialog(QDialog):
    """A video file or a frame folder, with an optional poses file (KITTI or TUM) and intrinsics file."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open video or sequence")
        form = QFormLayout(self)
        self.path, self.poses, self.intrinsics = QLineEdit(), QLineEdit(), QLineEdit()
        self.poses.setPlaceholderText("optional: KITTI (3x4 per line) or TUM (t tx ty tz qx qy qz qw)")
        self.intrinsics.setPlaceholderText("optional: a 3x3 K, or KITTI P0: lines")
        video = QPushButton("Video…")
        video.clicked.connect(lambda: self._pick(self.path, "Video", "Videos (*.mp4 *.avi *.mkv *.mov);;All (*)"))
        folder = QPushButton("Folder…")
        folder.clicked.connect(self._pick_folder)
        path_row = QWidget()
        row = QHBoxLayout(path_row)
        row.setContentsMargins(0, 0, 0, 0)
        for widget in (self.path, video, folder):
            row.addWidget(widget)
        form.addRow("Video or folder", path_row)
        form.addRow("Poses", _chooser(self.poses, lambda: self._pick(self.poses, "Poses file", "Text (*.txt);;All (*)")))
        form.addRow("Intrinsics", _chooser(self.intrinsics,
                                           lambda: self._pick(self.intrinsics, "Intrinsics", "Text (*.txt);;All (*)")))
        self.side_by_side = QCheckBox("left|right stereo pairs side by side in each frame")
        form.addRow("", self.side_by_side)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _pick(self, line: QLineEdit, title: str, filters: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, title, "", filters)
        if path:
            line.setText(path)

    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Frame folder")
        if path:
            self.path.setText(path)

    def arguments(self) -> dict[str, object]:
        """Keyword arguments for MainWindow.open_path."""
        return {"poses": self.poses.text() or None, "intrinsics": self.intrinsics.text() or None,
                "side_by_side": self.side_by_side.isChecked()}
