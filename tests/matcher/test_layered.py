from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from matcher.layered import LayeredMap


def test_changes_do_not_touch_the_old_version() -> None:
    old = LayeredMap({"a": 1, "b": 2})
    new = old.with_changes({"a": None, "c": 3})
    assert (old.get("a"), old.get("c")) == (1, None)
    assert (new.get("a"), new.get("b"), new.get("c")) == (None, 2, 3)
    assert sorted(new.items()) == [("b", 2), ("c", 3)]
    assert len(new) == 2 and "a" not in new and "c" in new


def test_compaction_in_steps_and_rebase() -> None:
    base = LayeredMap({i: i for i in range(10)})
    v1 = base.with_changes({1: None, 20: 20})
    steps = v1.compaction_steps(step=3)
    yielded = 0
    while True:
        try:
            next(steps)
            yielded += 1
        except StopIteration as done:
            compacted = done.value
            break
    assert yielded == 3
    assert compacted.overlay_size == 0
    v2 = v1.with_changes({2: None, 30: 30})  # arrived while compacting
    rebased = v2.rebased(compacted, v1)
    assert rebased.overlay_size == 2
    assert dict(rebased.items()) == dict(v2.items())


ops = st.lists(st.tuples(st.integers(0, 20), st.one_of(st.none(), st.integers())), max_size=30)


@given(st.dictionaries(st.integers(0, 20), st.integers()), st.lists(ops, max_size=5))
def test_same_as_a_plain_dict(base: dict[int, int], batches: list[list[tuple[int, int | None]]]) -> None:
    model = dict(base)
    layered = LayeredMap(dict(base))
    for batch in batches:
        changes = dict(batch)
        layered = layered.with_changes(changes)
        for key, value in changes.items():
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
    assert dict(layered.items()) == model
    assert dict(layered.compacted().items()) == model
    assert all(layered.get(k) == v for k, v in model.items())
