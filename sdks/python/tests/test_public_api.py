import statehouse


def test_public_exports_are_pinned() -> None:
    assert sorted(statehouse.__all__) == []
