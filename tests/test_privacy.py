"""Masking personal data for reports meant for circulation: a corpus of Chinese formats."""

import pandas as pd
import pytest

from pipelines.privacy import id_checksum_ok, mask_frame, mask_text, names_in


def _id(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


PERSONAL = [
    "13812345678",
    "138-1234-5678",
    "138 1234 5678",
    "+86 13912345678",
    "8615912345678",
    "028-85123456",
    "(028)85123456",
    "（0816）2345678",
    "028 8512 3456",
    "010-62751234转123",
    "zhang.san@example.com",
    "ZS_01@scu.edu.cn",
    _id("51010419900101123"),
    _id("11010519491231002"),
    "510104900101123",  # 15-digit ID
]


@pytest.mark.parametrize("value", PERSONAL)
def test_each_format_is_masked_inside_free_text(value: str) -> None:
    text = f"如有疑问请联系：{value}，谢谢。"
    masked = mask_text(text)
    assert value not in masked and "如有疑问请联系" in masked and masked.endswith("，谢谢。")


def test_masks_keep_only_a_hint() -> None:
    assert mask_text("13812345678") == "*******5678"
    assert mask_text("zhang.san@example.com") == "z***@example.com"
    number = _id("51010419900101123")
    assert mask_text(number) == number[:2] + "*" * 14 + number[-2:]


def test_look_alikes_are_left_alone() -> None:
    credit_code = "91510100MA61R8XX1A"
    product = "123456789012345678"  # 18 digits, not a valid ID
    assert not id_checksum_ok(product)
    text = f"信用代码 {credit_code}，型号 {product}，功率 2000W，年产 30000 吨，2026年6月完成"
    assert mask_text(text) == text


def test_contact_names_are_found_after_their_label_and_masked_everywhere_in_the_row() -> None:
    assert names_in("联系人：王小明，电话13812345678") == ["王小明"]
    frame = pd.DataFrame(
        {
            "contact": ["李四", ""],
            "title": ["李四团队的钒电池需求", "白酒窖池监测"],
            "text": ["请与李四联系，邮箱 li.si@x.cn", "负责人：赵六 电话 0816-2345678"],
            "funding": [10.0, 5.0],
        }
    )
    masked = mask_frame(frame)
    flat = " ".join(masked[["contact", "title", "text"]].astype(str).agg(" ".join, axis=1))
    for secret in ("李四", "li.si@x.cn", "赵六", "0816-2345678"):
        assert secret not in flat
    assert masked.loc[0, "contact"] == "李*" and masked.loc[1, "contact"] == ""
    assert masked["funding"].tolist() == [10.0, 5.0]
    assert frame.loc[0, "contact"] == "李四"  # the input is not changed
