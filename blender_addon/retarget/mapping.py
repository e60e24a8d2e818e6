"""Which target bone follows which source bones: plan_mapping turns a preset into one unit per driven bone."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from .presets import (CHAIN_END, CHAIN_SOURCE_ROLES, CHAINS, EMBEDDED_PRESET, SOURCE_PRESET, aim_table,
                      detect_preset, load_preset, resolver, role_table)

TAIL = "@tail"  # a unit's target_end meaning "the bone's own tail"
log = logging.getLogger(__name__)


@dataclass
class Unit:
    """One target bone and how it follows the source (see the module docstring)."""

    target: str
    source_bones: list  # source chain bones (one for a single bone)
    source_end: str | None  # source bone whose head ends the source chain (None: leaf)
    target_end: str | None  # target bone whose head ends the target bone's segment (None: leaf)
    chain: str | None = None  # "spine" or "neck" for chain bones
    u0: float = 0.0  # fraction of the chain this bone covers
    u1: float = 1.0
    inherit: str | None = None  # leaf: target bone whose alignment it reuses
    side: tuple | None = None  # ((source a, source b), (target a, target b)) knuckle line for hands


@dataclass
class Mapping:
    """Which target bone follows what, and what was left out.

    Attributes:
        preset: the target preset (checked dict).
        units: one Unit per driven target bone, parents before children.
        root: the target bone that gets the translation.
        missing: preset bone names the target does not have.
        unmatched: target deform bones that no role drives (they keep their rest pose relative to their parent).
    """

    preset: dict
    units: list = field(default_factory=list)
    root: str | None = None
    missing: list = field(default_factory=list)
    unmatched: list = field(default_factory=list)


def resolve(armature, preset: dict) -> tuple:
    """(role → bone, chain → bones, missing names) of `preset` on `armature`."""
    find, _ = resolver(armature)
    bones, chains, missing = {}, {}, []
    for role, name in preset["bones"].items():
        hit = find(name)
        if hit:
            bones[role] = hit
        else:
            missing.append(name)
    for chain in CHAINS:
        chains[chain] = []
        for name in preset[chain]:
            hit = find(name)
            (chains[chain].append(hit) if hit else missing.append(name))
    return bones, chains, missing


def _chain_end(chain: str, bones: dict, chains: dict) -> str | None:
    end = CHAIN_END[chain]
    return (chains[end][0] if chains.get(end) else None) if end in CHAINS else bones.get(end)


def plan_mapping(source, target, preset=None, source_preset=None) -> Mapping:
    """Match `preset` (None: detected) on `target` and SMPL-X (or `source_preset`) on `source`.

    Raises:
        ValueError: the target lacks the pelvis bone or any limb, or the source is not an SMPL-X rig.
    """
    if preset is None and EMBEDDED_PRESET in target:  # e.g. the humanoid table of a loaded .vrm
        preset = json.loads(target[EMBEDDED_PRESET])
    tp = load_preset(preset if preset is not None else detect_preset(target))
    sp = load_preset(source_preset if source_preset is not None else SOURCE_PRESET)
    sb, sc, s_missing = resolve(source, sp)
    if "pelvis" not in sb or not sc["spine"]:
        raise ValueError(f"source {source.name!r} is not a {sp['label']} armature (no {sp['bones']['pelvis']!r} "
                         f"or spine bones); retarget from an armature made by the SMPL-X import")
    tb, tc, t_missing = resolve(target, tp)
    if "pelvis" not in tb:
        raise ValueError(f"target {target.name!r}: preset {tp['name']!r} names pelvis bone "
                         f"{tp['bones']['pelvis']!r}, which it does not have; pick or load another preset")
    roles, parents = role_table()
    aims = aim_table()
    units: dict = {}
    for chain in CHAINS:
        if not (tc[chain] and sc[chain]):
            continue
        t_end, s_end = _chain_end(chain, tb, tc), _chain_end(chain, sb, sc)
        for i, bone in enumerate(tc[chain]):
            own_end = tc[chain][i + 1] if i + 1 < len(tc[chain]) else t_end  # this bone's segment
            units[bone] = Unit(bone, list(sc[chain]), s_end, own_end, chain=chain)
            if t_end is None or s_end is None:  # nothing ends the chain: its bones copy the source's rotation
                units[bone].source_end = units[bone].target_end = None
    for role in roles:
        if role not in tb or role not in sb:
            continue
        aim, side = aims.get(role, (None, None))
        t_end = s_end = None
        if aim in CHAINS:
            t_end, s_end = (tc[aim][0] if tc[aim] else None), (sc[aim][0] if sc[aim] else None)
        elif aim:
            t_end, s_end = tb.get(aim), sb.get(aim)
        unit = Unit(tb[role], [sb[role]], s_end, t_end)
        if s_end is None or t_end is None:  # a leaf, or its next joint is missing on one side
            unit.source_end = unit.target_end = None
            unit.inherit = _mapped_parent(role, parents, tb, tc)
        if side and all(r in sb and r in tb for r in side):
            unit.side = ((sb[side[0]], sb[side[1]]), (tb[side[0]], tb[side[1]]))
        units[tb[role]] = unit
    order = [b.name for b in topological(target)]
    for bone in tp["tail_aims"]:  # bones whose rest direction is their own head → tail
        hit = resolver(target)[0](bone)
        if hit in units and units[hit].source_end is not None:
            units[hit].target_end = TAIL
    root = resolver(target)[0](tp["root"]) if tp["root"] else None
    mapping = Mapping(preset=tp, units=[units[n] for n in order if n in units], root=root or tb["pelvis"],
                      missing=sorted(set(t_missing)))
    driven = set(units) | set(tp.get("follow", {}))
    mapping.unmatched = [b.name for b in target.data.bones if b.use_deform and b.name not in driven
                         and not target.pose.bones[b.name].constraints]  # constrained bones follow their rig
    if s_missing:
        log.info("source %s lacks %s", source.name, s_missing)
    return mapping


def _mapped_parent(role: str, parents: dict, tb: dict, tc: dict) -> str | None:
    """The target bone of the nearest mapped ancestor role (chains stand for their roles)."""
    chain_of = {r: c for c, rs in CHAIN_SOURCE_ROLES.items() for r in rs}
    r = parents.get(role)
    while r is not None:
        if r in chain_of and tc.get(chain_of[r]):
            return tc[chain_of[r]][-1]
        if r in tb:
            return tb[r]
        r = parents.get(r)
    return None


def topological(armature) -> list:
    """The armature's bones, every parent before its children."""
    out, todo = [], [b for b in armature.data.bones if b.parent is None]
    while todo:
        bone = todo.pop(0)
        out.append(bone)
        todo.extend(bone.children)
    return out
