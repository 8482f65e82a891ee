import pytest

from handlers.privacy import mask_pii


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("我电话13812345678,有事打我", "我电话138****5678,有事打我"),
        ("联系 138-1234-5678 或 +86 139 1234 5678", "联系 138****5678 或 +86 139****5678"),
        ("身份证110101199003071234", "身份证110***********1234"),
        ("证件号 41010519881212001X 请核对", "证件号 410***********001X 请核对"),
        ("物业座机 0371-66881234", "物业座机 0371-****1234"),
    ],
)
def test_phone_and_id_numbers_are_masked(text: str, masked: str) -> None:
    assert mask_pii(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "5号楼2单元402",
        "#1024 已办结",
        "12月20日前完成认证",
        "房号 1-2-301",
        "温度 26 度",
        "订单号 2026112812",
    ],
)
def test_ordinary_numbers_are_left_alone(text: str) -> None:
    assert mask_pii(text) == text


def test_masking_is_idempotent() -> None:
    once = mask_pii("13812345678 110101199003071234")
    assert mask_pii(once) == once
