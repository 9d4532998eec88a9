"""Semi-global matching on torch tensors: census costs, path aggregation, winner-take-all, checks, hole filling.

Every function works on one rectified pair on any torch device, without leaving it. Maps are (H, W) tensors,
volumes (H, W, D) with the disparity innermost; a left pixel x at disparity d matches the right pixel x - d
(depthviewer.types). Costs are small integers (a census Hamming distance is at most its bit count), so the volumes
are int16 and the sums are exact integers (Hirschmueller 2008, "Stereo Processing by Semiglobal Matching and
Mutual Information", PAMI 30(2); its section numbers are cited below).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Never reached by a path cost (at most max cost + P2) nor by a sum of 8: marks "no such disparity".
INT16_BIG = 16384
INT16_MAX = 32767

_SWAR = {  # masks of the bit-parallel popcount (Hacker's Delight 5-2), per integer width
    torch.int32: (0x55555555, 0x33333333, 0x0F0F0F0F, (8, 16), 0x3F),
    torch.int64: (0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, (8, 16, 32), 0x7F),
}

# Path directions (dy, dx): the cost at p is aggregated from p - (dy, dx). Four paths are the horizontal and
# vertical ones; eight add the diagonals (Hirschmueller 2008, section 2.4).
DIRECTIONS_4 = ((0, 1), (0, -1), (1, 0), (-1, 0))
DIRECTIONS_8 = DIRECTIONS_4 + ((1, 1), (-1, 1), (1, -1), (-1, -1))


def census_offsets(height: int, width: int, symmetric: bool) -> list[tuple[int, int]]:
    """The (dy, dx) comparison offsets of a census window; centre-symmetric keeps one of each mirrored pair."""
    ry, rx = height // 2, width // 2
    offsets = [(dy, dx) for dy in range(-ry, ry + 1) for dx in range(-rx, rx + 1) if (dy, dx) != (0, 0)]
    # Raster order puts every offset's mirror in the second half.
    return offsets[: len(offsets) // 2] if symmetric else offsets


def census_transform(gray: torch.Tensor, height: int, width: int, symmetric: bool) -> torch.Tensor:
    """Census bit string of every pixel: bit k says whether the k-th window pixel is brighter than its reference.

    The reference is the window centre, or for the centre-symmetric census (Spangenberg et al. 2013) the pixel
    mirrored through the centre. Borders replicate the image.

    Args:
        gray: (H, W) float intensities.

    Returns:
        (H, W) int32 codes (int64 above 31 bits; at most 63 bits, so codes stay non-negative).
    """
    offsets = census_offsets(height, width, symmetric)
    dtype = torch.int32 if len(offsets) <= 31 else torch.int64
    ry, rx = height // 2, width // 2
    rows, cols = gray.shape
    padded = F.pad(gray[None, None], (rx, rx, ry, ry), mode="replicate")[0, 0]

    def shifted(dy: int, dx: int) -> torch.Tensor:
        return padded[ry + dy : ry + dy + rows, rx + dx : rx + dx + cols]

    code = torch.zeros(rows, cols, dtype=dtype, device=gray.device)
    for bit, (dy, dx) in enumerate(offsets):
        reference = shifted(-dy, -dx) if symmetric else gray
        code |= (shifted(dy, dx) > reference).to(dtype) << bit
    return code


def _popcount_(x: torch.Tensor, tmp: torch.Tensor) -> torch.Tensor:
    """Number of set bits of each non-negative integer of `x`, in place (tmp: scratch of x's shape and dtype)."""
    m1, m2, m4, folds, low = _SWAR[x.dtype]
    torch.bitwise_right_shift(x, 1, out=tmp)
    tmp &= m1
    x -= tmp
    torch.bitwise_right_shift(x, 2, out=tmp)
    tmp &= m2
    x &= m2
    x += tmp
    torch.bitwise_right_shift(x, 4, out=tmp)
    x += tmp
    x &= m4
    for shift in folds:
        torch.bitwise_right_shift(x, shift, out=tmp)
        x += tmp
    x &= low
    return x


def census_cost_volume(
    code_left: torch.Tensor, code_right: torch.Tensor, num_disparities: int, outside_cost: int, chunk_rows: int
) -> torch.Tensor:
    """Hamming distances between left and right census codes for every pixel and disparity.

    A left pixel whose match x - d falls outside the right image gets `outside_cost` at that disparity.

    Args:
        code_left, code_right: (H, W) census codes from `census_transform`.
        chunk_rows: rows computed at once; the scratch is (chunk_rows, W, D) integers of the codes' width.

    Returns:
        (H, W, D) int16 cost volume.
    """
    rows, cols = code_left.shape
    depth = num_disparities
    volume = torch.empty(rows, cols, depth, dtype=torch.int16, device=code_left.device)
    # windows[y, x, j] = code_right[y, x + j - (D - 1)], i.e. disparity D - 1 - j: a view, no copy.
    windows = F.pad(code_right, (depth - 1, 0)).unfold(1, depth, 1)
    step = max(1, min(chunk_rows, rows))
    xor = torch.empty(step, cols, depth, dtype=code_left.dtype, device=code_left.device)
    tmp = torch.empty_like(xor)
    for y0 in range(0, rows, step):
        y1 = min(rows, y0 + step)
        n = y1 - y0
        torch.bitwise_xor(code_left[y0:y1, :, None], windows[y0:y1], out=xor[:n])
        _popcount_(xor[:n], tmp[:n])
        volume[y0:y1].copy_(xor[:n].flip(-1))
    edge = min(cols, depth - 1)
    if edge > 0:
        x = torch.arange(edge, device=code_left.device)[:, None]
        d = torch.arange(depth, device=code_left.device)[None, :]
        volume[:, :edge].masked_fill_(d > x, outside_cost)
    return volume


def p2_maps(
    gray: torch.Tensor, directions: tuple[tuple[int, int], ...], p1: int, p2: int, gradient_ref: float
) -> dict[tuple[int, int], torch.Tensor]:
    """Per-pixel large-jump penalty of each path direction, lowered across intensity edges.

    P2 = P2' / max(1, |I(p) - I(p - r)| / gradient_ref), never below P1: Hirschmueller's P2'/|dI| (section 2.4)
    with a floor of `gradient_ref` grey levels so that noise in flat regions keeps the full penalty.
    `gradient_ref` <= 0 gives a constant P2.

    Returns:
        {direction: (H, W) int16}.
    """
    maps = {}
    rows, cols = gray.shape
    for dy, dx in directions:
        if gradient_ref <= 0:
            maps[(dy, dx)] = torch.full((rows, cols), p2, dtype=torch.int16, device=gray.device)
            continue
        padded = F.pad(gray[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
        previous = padded[1 - dy : 1 - dy + rows, 1 - dx : 1 - dx + cols]
        scale = ((gray - previous).abs() / gradient_ref).clamp(min=1.0)
        maps[(dy, dx)] = (p2 / scale).round().clamp(min=p1).to(torch.int16)
    return maps


class _PathBuffer:
    """Path costs of one step, (..., D + 2) int16 with INT16_BIG at both disparity ends, and views of it."""

    def __init__(self, padded: torch.Tensor) -> None:
        padded[..., 0] = INT16_BIG
        padded[..., -1] = INT16_BIG
        self.padded = padded
        self.costs = padded[..., 1:-1]
        self.lower = padded[..., :-2]  # costs at d - 1
        self.upper = padded[..., 2:]  # costs at d + 1


def _path_step(
    prev: _PathBuffer, p1: int, p2: torch.Tensor, out: torch.Tensor, minimum: torch.Tensor
) -> torch.Tensor:
    """One step of the SGM recursion without the matching cost (Hirschmueller 2008, eq. 13):

    out[d] = min(L[d], L[d - 1] + P1, L[d + 1] + P1, min_k L[k] + P2) - min_k L[k].

    Args:
        prev: the previous step's costs L; p2: (..., 1) penalties; out: (..., D) result; minimum: (..., 1) scratch.
    """
    torch.amin(prev.costs, dim=-1, keepdim=True, out=minimum)
    torch.minimum(prev.lower, prev.upper, out=out)
    out += p1
    torch.minimum(out, prev.costs, out=out)
    torch.minimum(out, minimum + p2, out=out)
    out -= minimum
    return out


def aggregate_costs(
    cost: torch.Tensor, p1: int, p2: dict[tuple[int, int], torch.Tensor], paths: int, out: torch.Tensor
) -> torch.Tensor:
    """Sum of the SGM path costs over 4 or 8 directions (Hirschmueller 2008, eq. 14), added into `out`.

    Paths with a vertical step run as one loop over the rows with the whole width and all disparities at once
    (down- and up-going paths together); horizontal paths run as one loop over the columns. Path starts see
    zero previous costs, so their cost is the matching cost. Views are made once: each step is a few kernels.

    Args:
        cost: (H, W, D) int16 matching costs.
        p2: per-direction (H, W) int16 penalties from `p2_maps`.
        out: (H, W, D) int16 or int32 sums, zeroed by the caller (a view into a wider buffer is fine).
    """
    rows, cols, depth = cost.shape
    device = cost.device
    # Row loop. Groups by column step dx (-1, 0, 1), each a (down, up) pair; two buffers take turns. A path is
    # stored shifted by dx columns so that column x of the next row reads its predecessor x - dx at column x.
    column_steps = (-1, 0, 1) if paths == 8 else (0,)
    groups = len(column_steps)
    padded = [torch.zeros(groups, 2, cols + 2, depth + 2, dtype=torch.int16, device=device) for _ in range(2)]
    reads = [_PathBuffer(b[:, :, 1 : cols + 1]) for b in padded]
    path_stride = (cols + 2) * (depth + 2)
    first = column_steps[0] + 1  # column where group 0 stores x = 0; each next group one further
    writes = [
        b.as_strided((groups, 2, cols, depth), (2 * path_stride + depth + 2, path_stride, depth + 2, 1),
                     b.storage_offset() + first * (depth + 2) + 1)
        for b in padded
    ]
    downs, ups = [w[:, 0] for w in writes], [w[:, 1] for w in writes]
    down_paths, up_paths = [d.unbind(0) for d in downs], [u.unbind(0) for u in ups]
    # Up-going penalties are flipped so that step y reads row y for every path.
    p2_rows = torch.stack([torch.stack([p2[(1, dx)], p2[(-1, dx)].flip(0)], dim=1) for dx in column_steps], dim=1)
    p2_rows = p2_rows[..., None].unbind(0)  # per row: (groups, 2, W, 1)
    cost_rows, out_rows = cost.unbind(0), out.unbind(0)
    minimum = torch.empty(groups, 2, cols, 1, dtype=torch.int16, device=device)
    for y in range(rows):
        up = rows - 1 - y
        k = (y + 1) % 2
        _path_step(reads[y % 2], p1, p2_rows[y], writes[k], minimum)
        downs[k].add_(cost_rows[y])
        ups[k].add_(cost_rows[up])
        for down, upward in zip(down_paths[k], up_paths[k]):
            out_rows[y].add_(down)
            out_rows[up].add_(upward)

    # Column loop: left-to-right and right-to-left together.
    reads = [_PathBuffer(torch.zeros(2, rows, depth + 2, dtype=torch.int16, device=device)) for _ in range(2)]
    p2_cols = torch.stack([p2[(0, 1)].T, p2[(0, -1)].T.flip(0)], dim=1)[..., None].unbind(0)  # per column: (2, H, 1)
    cost_cols, out_cols = cost.unbind(1), out.unbind(1)
    steps = [(r.costs, r.costs[0], r.costs[1]) for r in reads]
    minimum = torch.empty(2, rows, 1, dtype=torch.int16, device=device)
    for x in range(cols):
        back = cols - 1 - x
        step, forward, backward = steps[(x + 1) % 2]
        _path_step(reads[x % 2], p1, p2_cols[x], step, minimum)
        forward.add_(cost_cols[x])
        backward.add_(cost_cols[back])
        out_cols[x].add_(forward)
        out_cols[back].add_(backward)
    return out


def winner_take_all(
    volume: torch.Tensor, subpixel: bool, runner_up: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Disparity of least cost per pixel, refined by a parabola through its two neighbours (section 2.5).

    Cost and disparity are packed into one int32 (cost * D + d) so that a plain minimum, which vectorises on any
    device, finds both; ties go to the smaller disparity.

    Args:
        volume: (N, W, D) summed costs (any strided view), below 2^31 / D.
        runner_up: also return the least cost more than one disparity away from the winner.

    Returns:
        disparity (N, W) float32, the least cost (N, W) float32, and the runner-up's cost (N, W) float32 or None.
    """
    depth = volume.shape[-1]
    packed = volume.to(torch.int32, copy=True)
    packed *= depth
    packed += torch.arange(depth, dtype=torch.int32, device=volume.device)
    least = packed.amin(dim=-1, keepdim=True)
    index = (least % depth).long()
    best = (least // depth).float()
    disparity = index.float()
    if subpixel and depth >= 3:
        lower = volume.gather(-1, (index - 1).clamp(min=0)).float()
        upper = volume.gather(-1, (index + 1).clamp(max=depth - 1)).float()
        curvature = lower + upper - 2 * best
        inner = (index > 0) & (index < depth - 1) & (curvature > 0)
        offset = (lower - upper) / (2 * curvature.clamp(min=1e-6))
        disparity = disparity + torch.where(inner, offset, torch.zeros_like(offset))
    second = None
    if runner_up:
        for delta in (-1, 0, 1):
            packed.scatter_(-1, (index + delta).clamp(0, depth - 1), torch.iinfo(torch.int32).max)
        second = (packed.amin(dim=-1) // depth).float()
    return disparity[..., 0], best[..., 0], second


def right_view(padded_sums: torch.Tensor, cols: int) -> torch.Tensor:
    """The right view's costs from the left volume, without a copy: right[y, x, d] = left[y, x + d, d].

    Args:
        padded_sums: (H, W + D, D) contiguous sums whose columns W.. hold INT16_MAX (left pixels that do not exist).

    Returns:
        (H, W, D) strided view (section 2.5: the matching image's disparities from the same costs).
    """
    rows, _, depth = padded_sums.shape
    return padded_sums.as_strided(
        (rows, cols, depth), (padded_sums.stride(0), depth, depth + 1), padded_sums.storage_offset()
    )


# Paeth's 19 compare-exchanges that leave the median of 9 values in position 4 (Graphics Gems, "opt_med9").
_MEDIAN9 = ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8), (4, 7),
            (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2))


def median3(disparity: torch.Tensor) -> torch.Tensor:
    """3x3 median of an (H, W) map (section 2.5: removes isolated outliers); borders replicate.

    A sorting network of elementwise min / max: no sort, no (9, H, W) copy.
    """
    rows, cols = disparity.shape
    padded = F.pad(disparity[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
    p = [padded[dy : dy + rows, dx : dx + cols] for dy in range(3) for dx in range(3)]
    for a, b in _MEDIAN9:
        p[a], p[b] = torch.minimum(p[a], p[b]), torch.maximum(p[a], p[b])
    return p[4]


def left_right_check(disparity: torch.Tensor, other: torch.Tensor, tolerance_px: float) -> torch.Tensor:
    """Where a left disparity agrees with the right one at its match (section 2.5).

    Args:
        disparity: (H, W) left disparities; other: (H, W) right disparities. For the right view pass the
            horizontally mirrored maps (mirroring swaps the roles of the views).

    Returns:
        (H, W) bool: the match x - d(x) lies in the right image and |d(x) - d_R(x - d(x))| <= tolerance_px.
    """
    cols = disparity.shape[1]
    x = torch.arange(cols, device=disparity.device, dtype=disparity.dtype)
    match = (x - disparity).round().long()
    seen = other.gather(1, match.clamp(0, cols - 1))
    return (match >= 0) & ((disparity - seen).abs() <= tolerance_px)


def _nearest_finite(values: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each pixel of an (R, C) map, the nearest finite value before-or-at and after-or-at it along `dim`
    (NaN where there is none)."""
    size = values.shape[dim]
    finite = torch.isfinite(values)
    shape = [1, 1]
    shape[dim] = size
    position = torch.arange(size, device=values.device).view(shape).expand_as(values)
    before = torch.where(finite, position, -1).cummax(dim=dim).values
    after = torch.where(finite, position, size).flip(dim).cummin(dim=dim).values.flip(dim)
    nan = torch.full_like(values, float("nan"))
    first = torch.where(before >= 0, values.gather(dim, before.clamp(min=0)), nan)
    second = torch.where(after < size, values.gather(dim, after.clamp(max=size - 1)), nan)
    return first, second


def fill_background(disparity: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Give every invalid pixel the background disparity of its scanline, as the KITTI devkit does.

    Occlusions lie along the epipolar lines, beside the nearer surface that hides them: an invalid run takes the
    smaller of the valid disparities at its two ends (`interpolateBackground` in the devkit's io_disp.h), and a run
    at a row end the one it touches. Rows without any valid pixel take the smaller of the nearest filled rows above
    and below; a map without any valid pixel becomes zero.

    Args:
        disparity: (H, W) float map; valid: (H, W) bool.

    Returns:
        (H, W) float map, finite everywhere, equal to `disparity` where valid.
    """
    values = torch.where(valid, disparity, torch.full_like(disparity, float("nan")))
    left, right = _nearest_finite(values, dim=1)
    filled = torch.fmin(left, right)  # fmin ignores a missing side
    up, down = _nearest_finite(filled, dim=0)
    filled = torch.where(torch.isnan(filled), torch.fmin(up, down), filled)
    return torch.nan_to_num(filled, nan=0.0)


def remove_speckles(
    disparity: torch.Tensor, valid: torch.Tensor, max_size: int, max_step_px: float, iterations: int = 16
) -> torch.Tensor:
    """Invalidate small segments: 4-connected regions of valid pixels whose neighbours differ by <= max_step_px,
    with fewer than `max_size` pixels (Hirschmueller 2008, section 2.5 "peak filtering"; OpenCV's filterSpeckles).

    Segments are labelled on the device by min-label propagation with pointer jumping (on the shared
    frames 16 rounds remove what 64 do). A segment that still has two labels after `iterations`
    rounds is kept, so the filter never removes more than it should.

    Args:
        disparity: (H, W) float map; valid: (H, W) bool.

    Returns:
        (H, W) bool: `valid` without the small segments.
    """
    if max_size <= 1:
        return valid
    rows, cols = disparity.shape
    count = rows * cols
    # A penalty of `count` (more than any label) on the edges to the right / down neighbours that are not joined.
    joined_right = valid[:, :-1] & valid[:, 1:] & ((disparity[:, :-1] - disparity[:, 1:]).abs() <= max_step_px)
    joined_down = valid[:-1] & valid[1:] & ((disparity[:-1] - disparity[1:]).abs() <= max_step_px)
    cut_right = (~joined_right).int() * count
    cut_down = (~joined_down).int() * count
    # Every pixel starts as its own label (int32 pixel index); invalid pixels never join anything.
    label = torch.arange(count, dtype=torch.int32, device=disparity.device).view(rows, cols)

    def neighbour_min(lab: torch.Tensor) -> torch.Tensor:
        best = lab.clone()
        torch.minimum(best[:, :-1], lab[:, 1:] + cut_right, out=best[:, :-1])
        torch.minimum(best[:, 1:], lab[:, :-1] + cut_right, out=best[:, 1:])
        torch.minimum(best[:-1], lab[1:] + cut_down, out=best[:-1])
        torch.minimum(best[1:], lab[:-1] + cut_down, out=best[1:])
        return best

    for iteration in range(iterations):
        previous = label
        label = neighbour_min(label).view(-1)
        # Labels are pixel indices of the same segment: jump to the label's label, twice.
        label = label.index_select(0, label.index_select(0, label)).view(rows, cols)
        if iteration % 4 == 3 and torch.equal(label, previous):  # one host sync per 4 rounds
            break
    flat_label = label.view(-1)
    size = torch.zeros(count, dtype=torch.int32, device=disparity.device)
    size.index_add_(0, flat_label, valid.view(-1).int())
    # A segment with two labels left has not converged: it is large, keep it.
    still_open = torch.zeros(count, dtype=torch.bool, device=disparity.device)
    for joined, a, b in ((joined_right, label[:, :-1], label[:, 1:]), (joined_down, label[:-1], label[1:])):
        split = joined & (a != b)
        still_open[a[split]] = True
        still_open[b[split]] = True
    small = (size < max_size) & ~still_open
    return valid & ~small.index_select(0, flat_label).view(rows, cols)
