"""core.detect: selection rules, the mmdet -> torchvision conversion, the torchvision and static-camera backends."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.detect import build_detector, detect_stream, nms, select_largest, select_people
from tests._media import box_iou, moving_shapes, write_video

# ------------------------------------------------------------------ selection rules (reference inference.py)


def test_select_largest_by_hand():
    boxes = np.array([[0, 0, 60, 200, 0.99],      # area 12000
                      [100, 0, 200, 160, 0.10],   # area 16000: largest, low score still wins
                      [0, 0, 10, 10, 0.5]], np.float32)
    np.testing.assert_array_equal(select_largest(boxes), boxes[1:2])
    # Largest box too small (w 100 >= 50 but h 149 < 150): no box, no fallback to the next one.
    small = np.array([[0, 0, 100, 149, 0.9], [0, 0, 60, 160, 0.9]], np.float32)
    assert select_largest(small).shape == (0, 5)
    assert select_largest(np.zeros((0, 5))).shape == (0, 5)
    with pytest.raises(ValueError, match="n, 5"):
        select_largest(np.zeros((3, 4)))


def test_nms_plus_one_iou_by_hand():
    # +1-pixel convention: both 10x10 px; the overlap is 5x10 px -> IoU = 50 / 150 = 1/3.
    boxes = np.array([[0, 0, 9, 9, 0.8], [5, 0, 14, 9, 0.9], [40, 40, 49, 49, 0.1]], np.float32)
    np.testing.assert_array_equal(nms(boxes, 0.3), [1, 2])
    np.testing.assert_array_equal(nms(boxes, 0.34), [1, 0, 2])


def test_select_people_by_hand():
    boxes = np.array([[0, 0, 100, 300, 0.5],
                      [5, 5, 100, 300, 0.9],      # overlaps the first one (IoU ~0.93): suppresses it
                      [200, 0, 300, 300, 0.3],
                      [400, 0, 420, 300, 0.95],   # too narrow (20 px)
                      [500, 0, 600, 300, 0.04]], np.float32)
    np.testing.assert_array_equal(select_people(boxes, iou_thr=0.5), boxes[[1, 2, 4]])
    np.testing.assert_array_equal(select_people(boxes, score_thr=0.1, iou_thr=0.5), boxes[[1, 2]])
    np.testing.assert_array_equal(select_people(boxes, iou_thr=0.99), boxes[[1, 0, 2, 4]])


def test_unknown_detector():
    with pytest.raises(ValueError, match="static-camera"):
        build_detector("yolo")


# ------------------------------------------------------------------ mmdet -> torchvision conversion


def mmdet_faster_rcnn_r50_fpn_shapes(with_num_batches_tracked: bool = True) -> dict[str, tuple]:
    """The key names and shapes of mmdet 2.x's faster_rcnn_r50_fpn_1x_coco state dict, written out independently."""
    shapes: dict[str, tuple] = {}

    def conv(name, cout, cin, k, bias=False):
        shapes[f"{name}.weight"] = (cout, cin, k, k)
        if bias:
            shapes[f"{name}.bias"] = (cout,)

    def bn(name, c):
        for p in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.{p}"] = (c,)
        if with_num_batches_tracked:
            shapes[f"{name}.num_batches_tracked"] = ()

    conv("backbone.conv1", 64, 3, 7)
    bn("backbone.bn1", 64)
    cin = 64
    for layer, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), start=1):
        for b in range(blocks):
            p = f"backbone.layer{layer}.{b}"
            conv(f"{p}.conv1", width, cin, 1)
            bn(f"{p}.bn1", width)
            conv(f"{p}.conv2", width, width, 3)
            bn(f"{p}.bn2", width)
            conv(f"{p}.conv3", 4 * width, width, 1)
            bn(f"{p}.bn3", 4 * width)
            if b == 0:
                conv(f"{p}.downsample.0", 4 * width, cin, 1)
                bn(f"{p}.downsample.1", 4 * width)
            cin = 4 * width
    for i, c in enumerate((256, 512, 1024, 2048)):
        conv(f"neck.lateral_convs.{i}.conv", 256, c, 1, bias=True)
        conv(f"neck.fpn_convs.{i}.conv", 256, 256, 3, bias=True)
    conv("rpn_head.rpn_conv", 256, 256, 3, bias=True)
    conv("rpn_head.rpn_cls", 3, 256, 1, bias=True)     # 3 anchors, sigmoid objectness
    conv("rpn_head.rpn_reg", 12, 256, 1, bias=True)
    for name, (cout, cin) in {"shared_fcs.0": (1024, 256 * 7 * 7), "shared_fcs.1": (1024, 1024),
                              "fc_cls": (81, 1024),     # 80 classes + background LAST
                              "fc_reg": (320, 1024)}.items():  # 80 x 4, class-specific, no background
        shapes[f"roi_head.bbox_head.{name}.weight"] = (cout, cin)
        shapes[f"roi_head.bbox_head.{name}.bias"] = (cout,)
    return shapes


def random_mmdet_state_dict(with_num_batches_tracked: bool = True, seed: int = 0) -> dict:
    import torch

    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in mmdet_faster_rcnn_r50_fpn_shapes(with_num_batches_tracked).items():
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(1000)
        elif key.endswith("running_var"):
            sd[key] = 0.5 + torch.rand(shape, generator=g)
        elif len(shape) > 1:
            fan_in = math.prod(shape[1:])
            sd[key] = torch.randn(shape, generator=g) / math.sqrt(fan_in)
        else:
            sd[key] = 0.1 * torch.randn(shape, generator=g) + (1.0 if key.endswith(".weight") else 0.0)
    return sd


@pytest.fixture(scope="module")
def converted():
    """(mmdet state dict, converted state dict, mmdet-compatible torchvision model loaded strictly)."""
    from core.detect.mmdet_convert import build_mmdet_compatible_faster_rcnn, convert_mmdet_state_dict

    src = random_mmdet_state_dict()
    out = convert_mmdet_state_dict(src)
    model = build_mmdet_compatible_faster_rcnn(min_size=96, max_size=128)
    model.load_state_dict(out, strict=True)
    return src, out, model


def test_conversion_places_every_parameter(converted):
    import torch

    src, out, model = converted
    assert len(out) == len(src)
    for key in src:
        if key.startswith("backbone."):
            assert out["backbone.body." + key[len("backbone."):]] is src[key]
    for i in range(4):
        assert torch.equal(out[f"backbone.fpn.inner_blocks.{i}.0.weight"], src[f"neck.lateral_convs.{i}.conv.weight"])
        assert torch.equal(out[f"backbone.fpn.layer_blocks.{i}.0.bias"], src[f"neck.fpn_convs.{i}.conv.bias"])
    assert torch.equal(out["rpn.head.conv.0.0.weight"], src["rpn_head.rpn_conv.weight"])
    assert torch.equal(out["rpn.head.cls_logits.weight"], src["rpn_head.rpn_cls.weight"])
    assert torch.equal(out["rpn.head.bbox_pred.bias"], src["rpn_head.rpn_reg.bias"])
    assert torch.equal(out["roi_heads.box_head.fc6.weight"], src["roi_head.bbox_head.shared_fcs.0.weight"])
    assert torch.equal(out["roi_heads.box_head.fc7.bias"], src["roi_head.bbox_head.shared_fcs.1.bias"])
    for p in ("weight", "bias"):
        cls, reg = out[f"roi_heads.box_predictor.cls_score.{p}"], out[f"roi_heads.box_predictor.bbox_pred.{p}"]
        mm_cls, mm_reg = src[f"roi_head.bbox_head.fc_cls.{p}"], src[f"roi_head.bbox_head.fc_reg.{p}"]
        assert torch.equal(cls[0], mm_cls[80])          # background: mmdet last -> torchvision first
        assert torch.equal(cls[1:], mm_cls[:80])        # class c -> label c + 1 (person 0 -> 1)
        assert torch.equal(reg[:4], torch.zeros_like(reg[:4]))
        assert torch.equal(reg[4:], mm_reg)


def test_conversion_without_num_batches_tracked_and_errors():
    from core.detect.mmdet_convert import build_mmdet_compatible_faster_rcnn, convert_mmdet_state_dict

    src = {"module." + k: v for k, v in random_mmdet_state_dict(with_num_batches_tracked=False).items()}
    model = build_mmdet_compatible_faster_rcnn()
    model.load_state_dict(convert_mmdet_state_dict(src), strict=True)
    src["roi_head.mask_head.conv.weight"] = src["module.rpn_head.rpn_cls.weight"]
    with pytest.raises(ValueError, match="mask_head"):
        convert_mmdet_state_dict(src)
    with pytest.raises(ValueError, match="1.x"):
        convert_mmdet_state_dict({"bbox_head.fc_cls.weight": src["module.roi_head.bbox_head.fc_cls.weight"]})


def _mmdet_delta2bbox(rois, deltas, stds=(0.1, 0.1, 0.2, 0.2), max_ratio=abs(math.log(16 / 1000))):
    """mmdet 2.x DeltaXYWHBBoxCoder.decode for one class, written from its definition (means 0)."""
    d = deltas * np.asarray(stds)
    dw, dh = np.clip(d[:, 2], -max_ratio, max_ratio), np.clip(d[:, 3], -max_ratio, max_ratio)
    px, py = (rois[:, 0] + rois[:, 2]) * 0.5, (rois[:, 1] + rois[:, 3]) * 0.5
    pw, ph = rois[:, 2] - rois[:, 0], rois[:, 3] - rois[:, 1]
    gx, gy, gw, gh = px + pw * d[:, 0], py + ph * d[:, 1], pw * np.exp(dw), ph * np.exp(dh)
    return np.stack([gx - gw * 0.5, gy - gh * 0.5, gx + gw * 0.5, gy + gh * 0.5], axis=1)


def test_converted_box_head_matches_mmdet_computation(converted):
    import torch

    src, _, model = converted
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 256, 7, 7, generator=g)
    rois = torch.tensor([[10, 20, 60, 140], [0, 0, 30, 30], [50, 50, 300, 200],
                         [5, 5, 6, 9], [100, 10, 140, 300], [1, 2, 3, 4]], dtype=torch.float32)
    W = {k[len("roi_head.bbox_head."):]: v.double().numpy() for k, v in src.items() if k.startswith("roi_head.")}
    h = np.maximum(x.double().flatten(1).numpy() @ W["shared_fcs.0.weight"].T + W["shared_fcs.0.bias"], 0)
    h = np.maximum(h @ W["shared_fcs.1.weight"].T + W["shared_fcs.1.bias"], 0)
    logits = h @ W["fc_cls.weight"].T + W["fc_cls.bias"]
    prob = np.exp(logits - logits.max(1, keepdims=True))
    person_prob = (prob / prob.sum(1, keepdims=True))[:, 0]                    # mmdet person = class 0
    deltas = (h @ W["fc_reg.weight"].T + W["fc_reg.bias"])[:, 0:4]             # class 0's 4 deltas
    ref_boxes = _mmdet_delta2bbox(rois.double().numpy(), deltas)

    with torch.no_grad():
        cls, reg = model.roi_heads.box_predictor(model.roi_heads.box_head(x))
        tv_prob = torch.softmax(cls, -1)[:, 1]                                  # converted person = label 1
        tv_boxes = model.roi_heads.box_coder.decode_single(reg[:, 4:8], rois)  # weights (10, 10, 5, 5)
    np.testing.assert_allclose(tv_prob.numpy(), person_prob, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(tv_boxes.numpy(), ref_boxes, rtol=1e-4, atol=1e-3)


def test_mmdet_anchors_and_roi_levels(converted):
    import torch
    from torchvision.ops import roi_align

    _, _, model = converted
    # mmdet 2.x AnchorGenerator(strides [4..64], ratios [0.5, 1, 2], scales [8]), center_offset 0, no rounding.
    for level, stride in enumerate((4, 8, 16, 32, 64)):
        r = np.array([0.5, 1.0, 2.0])
        ws, hs = stride * 8 / np.sqrt(r), stride * 8 * np.sqrt(r)
        ref = np.stack([-ws / 2, -hs / 2, ws / 2, hs / 2], axis=1)
        np.testing.assert_allclose(model.rpn.anchor_generator.cell_anchors[level].numpy(), ref, rtol=1e-6)
    # RoI level = floor(log2(sqrt(wh) / 56)) clamped to 0..3; RoIAlign aligned=True at 1/stride.
    g = torch.Generator().manual_seed(2)
    feats = {str(i): torch.randn(1, 256, 64 // 2 ** i, 64 // 2 ** i, generator=g) for i in range(4)}
    boxes = torch.tensor([[10, 10, 40, 40], [0, 0, 120, 120], [5, 5, 205, 205], [0, 0, 250, 250],
                          [0, 0, 500, 500]], dtype=torch.float32)
    # scales 30, 120, 200, 250, 500 -> log2(scale / 56) = -0.9, 1.1, 1.84, 2.16, 3.16
    levels = [0, 1, 1, 2, 3]
    out = model.roi_heads.box_roi_pool(feats, [boxes], [(256, 256)])
    for i, lvl in enumerate(levels):
        rois = torch.cat([torch.zeros(1, 1), boxes[i:i + 1]], dim=1)
        ref = roi_align(feats[str(lvl)], rois, 7, spatial_scale=1 / 4 / 2 ** lvl, sampling_ratio=0, aligned=True)
        torch.testing.assert_close(out[i:i + 1], ref)


def test_converted_model_forward_runs(converted):
    import torch

    _, _, model = converted
    model.roi_heads.score_thresh = 0.0
    with torch.no_grad():
        out = model([torch.rand(3, 90, 120), torch.rand(3, 64, 64)])
    model.roi_heads.score_thresh = 0.05
    assert len(out) == 2
    for o, (h, w) in zip(out, [(90, 120), (64, 64)]):
        assert o["boxes"].shape[1] == 4 and torch.isfinite(o["boxes"]).all()
        assert (o["boxes"][:, 2] <= w + 1e-3).all() and (o["boxes"][:, 3] <= h + 1e-3).all()
        assert (o["labels"] >= 1).all() and (o["labels"] <= 80).all()


def test_mmdet_detector_from_checkpoint_file(tmp_path, converted):
    import torch

    from core.detect.mmdet_convert import MMDET_WEIGHTS

    src, _, model = converted
    src = dict(src)
    src["roi_head.bbox_head.fc_cls.bias"] = src["roi_head.bbox_head.fc_cls.bias"].clone()
    src["roi_head.bbox_head.fc_cls.bias"][0] += 8.0  # make mmdet's person (class 0) win most random RoIs
    torch.save({"meta": {"mmdet_version": "2.0.0", "CLASSES": ("person", "bicycle")}, "state_dict": src},
               tmp_path / MMDET_WEIGHTS)
    det = build_detector("mmdet", tmp_path, backend="convert", score_thr=0.0, min_size=96, max_size=128)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    (boxes,) = det.detect([image])
    # Independently: the same weights in a fresh model, people = label 1, at the same settings.
    model.roi_heads.score_thresh = 0.0
    bias = model.roi_heads.box_predictor.cls_score.bias
    saved = bias.detach().clone()
    with torch.no_grad():
        bias[1] += 8.0  # the same change on the torchvision side: mmdet row 0 is label 1
        ref = model([torch.from_numpy(image).permute(2, 0, 1).float() / 255])[0]
        bias.copy_(saved)
    model.roi_heads.score_thresh = 0.05
    keep = ref["labels"] == 1
    assert boxes.dtype == np.float32 and boxes.shape == (int(keep.sum()), 5) and len(boxes) > 0
    np.testing.assert_allclose(boxes[:, :4], ref["boxes"][keep].numpy(), atol=1e-4)
    np.testing.assert_allclose(boxes[:, 4], ref["scores"][keep].numpy(), atol=1e-6)
    with pytest.raises(FileNotFoundError, match="faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth"):
        build_detector("mmdet", tmp_path / "elsewhere")


# ------------------------------------------------------------------ torchvision backend


def test_torchvision_detector_from_weights_file(tmp_path):
    import torch

    from core.detect.torchvision_rcnn import TORCHVISION_WEIGHTS, build_faster_rcnn

    # torchvision's COCO file is a plain state dict saved from FrozenBatchNorm layers (no num_batches_tracked).
    src = build_faster_rcnn(91)
    sd = {k: v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(sd, tmp_path / TORCHVISION_WEIGHTS)
    det = build_detector("torchvision", tmp_path, score_thr=0.0, min_size=96, max_size=128)
    loaded = det.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in sd.items())
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (90, 120, 3), dtype=np.uint8), rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)]
    out = det.detect(images)
    assert len(out) == 2
    for boxes, img in zip(out, images):
        assert boxes.dtype == np.float32 and boxes.ndim == 2 and boxes.shape[1] == 5
        assert np.all(np.diff(boxes[:, 4]) <= 0)
        assert np.all(boxes[:, 2] <= img.shape[1] + 1e-3) and np.all(boxes[:, 3] <= img.shape[0] + 1e-3)
    with pytest.raises(ValueError, match="uint8"):
        det.detect([images[0].astype(np.float32)])


def test_torchvision_missing_and_wrong_weights(tmp_path):
    import torch

    from core.detect.torchvision_rcnn import TORCHVISION_WEIGHTS

    with pytest.raises(FileNotFoundError) as err:
        build_detector("torchvision", tmp_path)
    msg = str(err.value)
    assert TORCHVISION_WEIGHTS in msg and "download.pytorch.org/models" in msg and str(tmp_path) in msg
    with pytest.raises(FileNotFoundError, match="no model directory"):
        build_detector("torchvision")
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / TORCHVISION_WEIGHTS)
    with pytest.raises(ValueError, match=TORCHVISION_WEIGHTS.replace(".", r"\.") + ".*missing"):
        build_detector("torchvision", tmp_path)


# ------------------------------------------------------------------ static camera


def test_static_camera_finds_moving_shapes(tmp_path):
    from core.video import open_video

    frames, truth = moving_shapes(40, 240, 320)
    src = open_video(write_video(tmp_path / "shapes.mp4", frames, fps=25))
    det = build_detector("static-camera", every=2)
    with pytest.raises(RuntimeError, match="fit"):
        det.detect([frames[0]])
    assert det.needs_fit
    det.fit(src)
    checked = 0
    for frame, boxes in detect_stream(det, src, batch_size=3):
        a, b = truth[frame.index]
        if box_iou(np.r_[a[:2] - 20, a[2:] + 20], b) > 0:  # skip frames where the shapes touch or nearly do
            continue
        assert len(boxes) == 2, (frame.index, boxes)
        for true in (a, b):
            assert max(box_iou(true, d[:4]) for d in boxes) > 0.7, (frame.index, true, boxes)
        assert np.all((boxes[:, 4] > 0.5) & (boxes[:, 4] <= 1))
        checked += 1
    assert checked >= 25


def test_static_camera_fit_reads_lazily():
    consumed = []

    def frames():
        rng = np.random.default_rng(0)
        for i in range(10_000):
            consumed.append(i)
            yield rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)

    det = build_detector("static-camera", every=3, max_samples=5).fit(frames())
    assert det.background.shape == (16, 16, 3)
    assert len(consumed) <= 15
