"""What a right answer is for real Chinese shoppers' messages (ECD sample, Taobao).

``../shared/data/ecd-sample`` holds 680 distinct customer turns. 200 of them,
drawn with ``numpy.random.default_rng(0).choice(680, 200, replace=False)`` over
the turns in :func:`retain.data.loaders.ecd.read_ecd_turns` order, were each
given a category by this project, written (like the Bitext expectations)
before the assistant was run on any of them. A turn that only makes sense
inside its conversation ("好", "错了", an item number, an answer to the
agent) is ``context`` and not scored: the benchmark sends each message as a
conversation's first. 111 turns are scored.

The sample has no licence, so its text is not copied here: a turn is named
by the first 12 hex digits of the SHA-1 of its UTF-8 text (segmentation
spaces removed).

:data:`ECD_EXPECTED` says which outcomes answer each category with the demo
knowledge base (shipping, returns, refunds, tracking, payment, coupons,
damaged, sizes, cancel, contact). Where no article answers (which courier,
a product's details, haggling, gifts, changing an address) the right
outcome is "I don't know" or a person; an article that is related and not
misleading (the shipping article for a courier question, the coupons
article for a discount question) is accepted too, as the Bitext
expectations accept the shipping article for delivery options.
"""

from __future__ import annotations

import hashlib

__all__ = ["ECD_EXPECTED", "ECD_LABELS", "UNSCORED", "turn_key"]

_ABSTAIN = frozenset({"unknown", "handoff"})

#: Category -> the outcomes that answer it with the demo knowledge base.
ECD_EXPECTED: dict[str, frozenset[str]] = {
    # 什么时候发货 / 几天能到 / 今天能发吗: the shipping article states both.
    "ship_when": frozenset({"kb:shipping", "action:order_status"}),
    "shipping_fee": frozenset({"kb:shipping"}),  # 为什么有运费
    "courier": _ABSTAIN | {"kb:shipping"},  # 发什么快递 / 能发中通吗
    # 下单好几天还没发货 / 快递送到哪里了
    "not_arrived": frozenset({"action:order_status", "kb:tracking", "handoff"}),
    "return_refund": frozenset({"action:start_return", "kb:returns", "kb:refunds", "handoff"}),
    # 有破的怎么办 / 里面有杂质 / 少发了一盒
    "damaged": frozenset({"kb:damaged", "action:start_return", "handoff"}),
    "coupon": frozenset({"kb:coupons", "handoff"}),  # 10元券怎么领不了
    "payment": frozenset({"kb:payment"}),  # 蚂蚁花呗可以吗
    "cancel": frozenset({"kb:cancel", "handoff"}),  # 你别发了
    "complaint": frozenset({"handoff"}),  # an angry customer goes to a person
    "promotion": _ABSTAIN | {"kb:coupons"},  # 能便宜点吗 / 送什么 / 有活动吗
    "product": _ABSTAIN | {"action:recommend"},  # 是纯棉的吗 / 有货吗 / 有什么区别
    "order_change": _ABSTAIN,  # 地址选错了 / 修改收货人 / 8号再发
    "other": _ABSTAIN,
    "chitchat": _ABSTAIN,  # 在吗 / 谢谢 / 质量挺好的
}

#: Categories that are not scored.
UNSCORED = frozenset({"context"})


def turn_key(text: str) -> str:
    """The name of a turn in :data:`ECD_LABELS`."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


#: turn_key(turn) -> category, for the 200 sampled turns in draw order.
ECD_LABELS: dict[str, str] = {
    "e474234e9053": "context",
    "951353b87919": "chitchat",
    "27e4fe4c3fe2": "context",
    "81c4b567102d": "context",
    "2cd8903fb8cb": "order_change",
    "22e3ef902b8b": "order_change",
    "8ee9b86d0ba1": "cancel",
    "5058c89b9353": "product",
    "f817f1d0c25f": "ship_when",
    "719d7781f1a5": "product",
    "0350ae5c375a": "context",
    "1475557feba9": "damaged",
    "147ff5f66efc": "context",
    "c7c56a22e519": "context",
    "56757bbb9754": "return_refund",
    "0fadf44fd34a": "context",
    "745a270b6676": "context",
    "9c92cb4d60dc": "return_refund",
    "1d0a66b2e6aa": "product",
    "23ff64c1e88c": "context",
    "9c44886656c3": "product",
    "7b0dd417ca78": "ship_when",
    "b8d634279829": "context",
    "8d0a0e64d4ed": "product",
    "a6dbd242b2b5": "order_change",
    "3b605009cd8d": "ship_when",
    "65c1753e767f": "product",
    "bd242bcc946c": "damaged",
    "5a1e2ca78ae5": "context",
    "38cec291a4e4": "return_refund",
    "4dfe4e296684": "return_refund",
    "29bbcd7c4922": "courier",
    "32e6f41280e3": "context",
    "8c3d99d4adde": "complaint",
    "70eb60d38d98": "promotion",
    "068ed4453652": "courier",
    "d9549501e734": "not_arrived",
    "56a8b0f7455d": "promotion",
    "7628b69e8d63": "context",
    "ba759dd8419f": "context",
    "ab5858c78c47": "context",
    "c1c1bed8e023": "not_arrived",
    "855a08c7f7cd": "product",
    "987048430197": "product",
    "a016c9a6fe59": "promotion",
    "1722a8a2128c": "context",
    "ba225e4d169b": "context",
    "03ae32b20784": "product",
    "3851c33b13d7": "context",
    "ae37c5944813": "context",
    "98c0817ea288": "context",
    "6f3e428af201": "product",
    "c2d2d67e9afb": "context",
    "e3b9c99cb002": "context",
    "d018c0ccd268": "return_refund",
    "5a57c949f63e": "context",
    "e2c7ef7b9712": "product",
    "d43a44b6be84": "context",
    "e6ddf3a166e2": "context",
    "6da8b1c5b2f8": "product",
    "f196c9f73a4d": "chitchat",
    "9e0092aa5eb9": "promotion",
    "798f80758548": "coupon",
    "23e09876f288": "product",
    "c311d1465a8d": "promotion",
    "d3ac7c691b4a": "context",
    "815c945fb085": "complaint",
    "4c56bae695b9": "context",
    "8235f97048e3": "ship_when",
    "26449e633178": "context",
    "48e1ec94cc98": "context",
    "3f0c6de68e20": "context",
    "024aecde7d07": "product",
    "eed0577bc090": "product",
    "7375ddf0deb3": "chitchat",
    "ecf519b117cb": "context",
    "7b279f2c24ea": "context",
    "659caf4d5a19": "product",
    "582be3319461": "promotion",
    "281f1a5a7b7f": "context",
    "988bee1e569d": "promotion",
    "82cc4fcdc9ad": "context",
    "9f098b96e9f4": "promotion",
    "75c3ea21f55b": "context",
    "f7b24b68f990": "context",
    "2915138e870f": "context",
    "0e4b5d7d0f62": "context",
    "b205787b06ed": "context",
    "fd9bb3214333": "not_arrived",
    "6a24b662a904": "product",
    "cfa89cd06db9": "order_change",
    "409f7f5b6239": "context",
    "15a31cf92022": "context",
    "e76d728d8937": "context",
    "b255ac1cafcb": "ship_when",
    "9c71ea55a695": "payment",
    "a141346f87db": "product",
    "b443abd59470": "context",
    "3344133668fd": "context",
    "77c5a49c897e": "chitchat",
    "8fade940fbc4": "context",
    "d8a8217bf796": "context",
    "74f622277d5b": "context",
    "3fa8a3b8e0ac": "chitchat",
    "c054705d265d": "context",
    "880c926f1125": "chitchat",
    "c81550b8f9e7": "coupon",
    "4e0169c28979": "chitchat",
    "03a1f0129890": "promotion",
    "95f7002a772c": "courier",
    "f5a15f712e6c": "courier",
    "06f26ff27f58": "product",
    "396f73d66f23": "context",
    "16ff19ef7c17": "ship_when",
    "42883e9fa3c1": "context",
    "70f01d2de233": "product",
    "4a4ed6dab3e3": "complaint",
    "f4dfb7f09333": "context",
    "c40595c13e65": "context",
    "abd539df7996": "context",
    "7b973025941d": "product",
    "93eb3137d82b": "product",
    "3b134953cd09": "context",
    "b571251bc060": "product",
    "c9d1346b89a1": "product",
    "f5f8fcaf9c30": "product",
    "e696a3a5ce5e": "context",
    "c716ef265134": "context",
    "22255616db07": "context",
    "f858d65c73e8": "product",
    "2dcc812ec7c6": "promotion",
    "17df216b4d9b": "context",
    "b8b97dfba22f": "shipping_fee",
    "fb2dba3e1cbf": "ship_when",
    "60171376652f": "promotion",
    "a685bc81d0d4": "damaged",
    "c90a90d3ac8f": "ship_when",
    "5792c7204634": "courier",
    "5520458329c3": "context",
    "e47764a4a13e": "context",
    "0f3fa2fb2703": "context",
    "58de710ec625": "promotion",
    "a783d84e16d6": "ship_when",
    "ced671f3f08e": "context",
    "9f21b05303c1": "context",
    "6f0578635c91": "context",
    "44a13929ff2f": "context",
    "67efb2b89b98": "product",
    "2c7295b58fea": "context",
    "4a6af38c9353": "context",
    "176b9350ea40": "order_change",
    "f881a519cef0": "context",
    "c85f4c1d141d": "context",
    "1ef71cc2fa49": "product",
    "275b99547a6e": "product",
    "1d8cb61f5f2d": "promotion",
    "f093314d0685": "chitchat",
    "aa0462f1b02c": "chitchat",
    "3c694ae7bcbe": "context",
    "abc052678bf8": "complaint",
    "2e54cf0a9482": "promotion",
    "c97e9c00491b": "context",
    "88ca9a92064a": "context",
    "44f081f33055": "chitchat",
    "27bf27219dba": "product",
    "5aa85d781c33": "courier",
    "eb7771598ea4": "courier",
    "b49e0617a64e": "not_arrived",
    "fa46a2741b55": "context",
    "93353502dc83": "context",
    "3ff4b1c2b386": "context",
    "d2de0be2b344": "context",
    "3708c3d86017": "damaged",
    "b4fda86cddd0": "promotion",
    "7b5bda85022f": "context",
    "c21723ab16b2": "context",
    "ad9a958c9ca3": "ship_when",
    "0216d9767b6f": "ship_when",
    "2f76a725ad71": "ship_when",
    "e9a5f6e3074a": "context",
    "73dca4b2bf71": "ship_when",
    "2ae7ff703c8b": "promotion",
    "ee6ad5bd30e7": "context",
    "2156f7f212e3": "context",
    "d7de8aaaf99d": "context",
    "27174dfe878e": "courier",
    "8226a4a8e95a": "context",
    "2ea3bf307c74": "courier",
    "d3394466d518": "product",
    "51d6117f3337": "context",
    "f454e413df95": "promotion",
    "279b275e3fc6": "chitchat",
    "f6ff49063660": "context",
    "c85d9fd670cd": "context",
    "aa099842bd86": "context",
    "9307309277f0": "context",
    "695f088fd7ef": "context",
    "065fbcefdb93": "product",
    "d2812ee4196c": "not_arrived",
    "f048e8c0705e": "other",
}
