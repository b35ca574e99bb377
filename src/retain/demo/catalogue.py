"""Bilingual vocabulary the demo shop is written from.

Plain data: categories with their products, brands, prices and repurchase
cycles; review phrases per aspect and polarity; knowledge-base articles. The
generator combines them, so titles, reviews and support chats read like a
real mixed Chinese/English shop without shipping any real shop's data.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ASPECT_PHRASES", "CATEGORIES", "KB_ARTICLES", "Category"]


@dataclass(frozen=True)
class Category:
    """A product category; ``cycle_days`` is set for goods bought again."""

    key: str
    zh: str
    en: str
    nouns: tuple[tuple[str, str], ...]
    adjectives: tuple[tuple[str, str], ...]
    brands: tuple[str, ...]
    price: tuple[float, float]
    cycle_days: float | None


CATEGORIES: tuple[Category, ...] = (
    Category(
        "skincare",
        "护肤",
        "Skincare",
        (
            ("保湿面霜", "moisturising cream"),
            ("洁面乳", "facial cleanser"),
            ("精华液", "serum"),
            ("防晒霜", "sunscreen"),
            ("面膜", "sheet mask"),
        ),
        (("温和", "gentle"), ("补水", "hydrating"), ("清爽", "lightweight"), ("修护", "repairing")),
        ("Lumi", "雪颜", "Aqua Vera"),
        (60, 380),
        45,
    ),
    Category(
        "makeup",
        "彩妆",
        "Makeup",
        (
            ("口红", "lipstick"),
            ("粉底液", "liquid foundation"),
            ("睫毛膏", "mascara"),
            ("眼影盘", "eyeshadow palette"),
        ),
        (("持久", "long-lasting"), ("哑光", "matte"), ("自然", "natural"), ("防水", "waterproof")),
        ("Rosé", "花漾", "Velvet Co"),
        (49, 320),
        90,
    ),
    Category(
        "electronics",
        "数码",
        "Electronics",
        (
            ("蓝牙耳机", "bluetooth earbuds"),
            ("充电宝", "power bank"),
            ("智能手表", "smartwatch"),
            ("机械键盘", "mechanical keyboard"),
        ),
        (
            ("降噪", "noise-cancelling"),
            ("快充", "fast-charging"),
            ("轻薄", "slim"),
            ("无线", "wireless"),
        ),
        ("Voltix", "声动", "Nimbus"),
        (99, 1299),
        None,
    ),
    Category(
        "clothing",
        "服装",
        "Clothing",
        (
            ("纯棉T恤", "cotton T-shirt"),
            ("牛仔裤", "jeans"),
            ("羽绒服", "down jacket"),
            ("运动卫衣", "hoodie"),
        ),
        (("宽松", "relaxed-fit"), ("修身", "slim-fit"), ("百搭", "versatile"), ("保暖", "warm")),
        ("UrbanLeaf", "素衣", "North Line"),
        (59, 699),
        120,
    ),
    Category(
        "snacks",
        "零食",
        "Snacks",
        (
            ("坚果礼盒", "mixed nuts box"),
            ("牛肉干", "beef jerky"),
            ("黑巧克力", "dark chocolate"),
            ("果干", "dried fruit"),
        ),
        (("低糖", "low-sugar"), ("香脆", "crunchy"), ("有机", "organic"), ("进口", "imported")),
        ("三只熊", "Harvest", "Crunchy Hill"),
        (19, 129),
        21,
    ),
    Category(
        "home",
        "家居",
        "Home",
        (
            ("香薰蜡烛", "scented candle"),
            ("四件套床品", "bedding set"),
            ("收纳盒", "storage box"),
            ("保温杯", "insulated bottle"),
        ),
        (("简约", "minimalist"), ("北欧", "Nordic"), ("耐用", "durable"), ("大容量", "large")),
        ("Casa", "居乐", "Nook"),
        (29, 499),
        None,
    ),
    Category(
        "books",
        "图书",
        "Books",
        (
            ("推理小说", "mystery novel"),
            ("编程入门", "programming primer"),
            ("绘本", "picture book"),
            ("历史读物", "history book"),
        ),
        (
            ("畅销", "best-selling"),
            ("精装", "hardcover"),
            ("新版", "new edition"),
            ("经典", "classic"),
        ),
        ("新知出版", "Penrose", "Lantern"),
        (25, 128),
        None,
    ),
    Category(
        "sports",
        "运动",
        "Sports",
        (
            ("瑜伽垫", "yoga mat"),
            ("跑步鞋", "running shoes"),
            ("蛋白粉", "protein powder"),
            ("速干运动裤", "quick-dry shorts"),
        ),
        (("专业", "pro"), ("防滑", "non-slip"), ("轻量", "lightweight"), ("透气", "breathable")),
        ("Stride", "动力", "Peak"),
        (39, 599),
        60,
    ),
)

#: (aspect, polarity) -> (Chinese phrases, English phrases). Several wordings
#: per aspect, with negation on both sides (不错 and 不太满意, "not bad" and
#: "not worth it") and overall verdicts (会回购, "love it"), so a model trained
#: on the demo shop's reviews learns words rather than that 不 or "not" mark
#: a complaint. Each phrase names its aspect with a word of the aspect lexicon
#: (``retain.sentiment.aspects.ASPECTS``).
ASPECT_PHRASES: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("quality", "pos"): (
        (
            "质量很好，做工精细",
            "用料扎实，品质不错",
            "质量不错，很满意",
            "做工挺好的，没有瑕疵",
            "质量超出预期，会回购",
            "材质很好，品质没得说",
            "质量杠杠的，推荐购买",
            "用了一个月了，质量还是很好",
        ),
        (
            "Great quality, very well made",
            "Solid build and it works perfectly",
            "Love it, the quality is excellent",
            "Really happy with the quality",
            "The material feels sturdy and durable",
            "Not bad at all, decent quality for daily use",
            "Well made and still going strong after a month",
            "Better quality than I expected, would buy again",
        ),
    ),
    ("quality", "neg"): (
        (
            "质量很差，用了两天就坏了",
            "做工粗糙，有明显瑕疵",
            "质量一般，不太满意",
            "材质很差，和图片不符",
            "质量不行，很失望",
            "用料太差了，不推荐",
            "做工不好，线头很多",
            "质量太差了，再也不买了",
        ),
        (
            "Poor quality, it broke after two days",
            "Cheap materials and visible defects",
            "Disappointed, the quality is terrible",
            "It stopped working after a week",
            "Badly made and already scratched",
            "Flimsy build, would not buy again",
            "Terrible material, it fell apart",
            "Not good quality at all, very unhappy",
        ),
    ),
    ("price", "pos"): (
        (
            "价格实惠，性价比高",
            "活动价很划算",
            "价格不贵，物有所值",
            "性价比不错，值得购买",
            "这个价位很值",
            "便宜又好用，开心",
        ),
        (
            "Good value for the price",
            "Great deal during the sale",
            "Worth every penny",
            "Not expensive at all, great value",
            "Cheap and does the job, happy with it",
            "Excellent value for money",
        ),
    ),
    ("price", "neg"): (
        (
            "太贵了，不值这个价",
            "比别家贵不少",
            "性价比太低，不推荐",
            "价格偏高，不太划算",
            "刚买就降价了，很郁闷",
            "价格有点贵，不值得",
        ),
        (
            "Overpriced for what you get",
            "Much more expensive than elsewhere",
            "Not worth the money",
            "A waste of money",
            "Too expensive, not good value",
            "The price dropped right after I bought it, annoying",
        ),
    ),
    ("delivery", "pos"): (
        (
            "物流很快，第二天就到了",
            "发货迅速",
            "快递很给力，很快就到了",
            "物流挺快的，点赞",
            "发货及时，配送很快",
            "到货很快，满意",
        ),
        (
            "Fast delivery, arrived the next day",
            "Shipped quickly",
            "Arrived earlier than expected, fast shipping",
            "Quick delivery and easy tracking",
            "Delivery was on time, no complaints",
            "Dispatched the same day, love it",
        ),
    ),
    ("delivery", "neg"): (
        (
            "物流太慢，等了一个多星期",
            "快递一直不更新，很着急",
            "物流很慢，不满意",
            "发货太慢了，催了好几次",
            "快递慢得要命",
            "到货时间比说的晚了好几天",
        ),
        (
            "Delivery was very slow, took over a week",
            "Tracking never updated, very frustrating",
            "Shipping took forever",
            "Arrived late, the courier was useless",
            "Slow delivery, not happy",
            "Still waiting, the delivery is a joke",
        ),
    ),
    ("packaging", "pos"): (
        (
            "包装很用心，没有破损",
            "包装精美",
            "包装很严实，完好无损",
            "包装不错，送人也合适",
            "盒子完好，包装仔细",
            "外包装完好，很满意",
        ),
        (
            "Carefully packaged, nothing damaged",
            "Lovely packaging",
            "Well packed, arrived in perfect condition",
            "Nice box, great as a gift",
            "Securely wrapped, no damage at all",
            "The packaging was neat and tidy",
        ),
    ),
    ("packaging", "neg"): (
        (
            "包装破损，盒子都压坏了",
            "包装太简陋",
            "包装很差，东西都漏出来了",
            "盒子破了，很失望",
            "外包装又脏又破",
            "包装随便，没有任何保护",
        ),
        (
            "The box arrived crushed",
            "Packaging was flimsy",
            "The package was torn open",
            "Poorly packed, it arrived damaged",
            "The box was dirty and dented",
            "No protective wrapping at all, disappointing",
        ),
    ),
    ("service", "pos"): (
        (
            "客服态度很好，耐心解答",
            "售后处理及时",
            "客服回复很快，很贴心",
            "卖家服务不错，很热情",
            "售后很负责，问题马上解决了",
            "客服很有耐心，解释得很清楚",
        ),
        (
            "Customer service was friendly and helpful",
            "Support sorted it out quickly",
            "The seller replied within minutes, very helpful",
            "Great service, they fixed everything",
            "Staff were polite and patient",
            "Excellent support, highly recommend this seller",
        ),
    ),
    ("service", "neg"): (
        (
            "客服不理人，问题一直没解决",
            "售后推来推去",
            "客服态度很差",
            "卖家很不耐烦，体验很差",
            "售后太差，退货很麻烦",
            "商家不负责任，很失望",
        ),
        (
            "Customer service ignored me",
            "Support kept passing me around",
            "The seller never replied",
            "Rude customer service, terrible experience",
            "Support was useless, still no refund",
            "Awful service, will not order again",
        ),
    ),
    ("size", "pos"): (
        (
            "尺码标准，穿着合身",
            "大小正合适",
            "尺码很准，按平时买就好",
            "码数合适，不大不小",
            "大小刚好，穿着好看",
            "尺寸合适，推荐",
        ),
        (
            "True to size, fits well",
            "The size is just right",
            "Fits perfectly, really pleased",
            "Sizing is accurate, ordered my usual size",
            "Perfect fit, love it",
            "Fits as described",
        ),
    ),
    ("size", "neg"): (
        (
            "尺码偏小，穿不上",
            "大小不合适，要退换",
            "尺码偏大，穿着不好看",
            "码数不准，很失望",
            "尺寸太小了",
            "尺码和描述不一样",
        ),
        (
            "Runs small, does not fit",
            "Wrong size, need to exchange",
            "Runs large, had to send it back",
            "Too tight, the sizing is way off",
            "The size chart is wrong",
            "Does not fit at all, disappointed",
        ),
    ),
}

#: article key -> (Chinese title, Chinese body, English title, English body, tags)
KB_ARTICLES: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    "shipping": (
        "配送时间与运费",
        "订单在付款后24小时内发货，国内配送一般需要2到5个工作日。订单满99元免运费，否则运费为8元。",
        "Shipping times and costs",
        "Orders ship within 24 hours of payment and arrive in 2 to 5 business days. Shipping is free on orders over 99; otherwise it costs 8.",
        ("shipping", "delivery"),
    ),
    "returns": (
        "退货政策",
        "签收后30天内，商品未使用且包装完好可申请退货。在“我的订单”中选择订单并点击“申请退货”。",
        "Return policy",
        "You can return unused items in their original packaging within 30 days of delivery. Open the order under My Orders and choose Start a return.",
        ("returns",),
    ),
    "refunds": (
        "退款多久到账",
        "仓库收到退货并检查后，退款会在5到7个工作日内原路退回。",
        "When will I get my refund?",
        "Once the warehouse receives and checks your return, the refund goes back to the original payment method within 5 to 7 business days.",
        ("refunds", "returns"),
    ),
    "tracking": (
        "如何查询订单物流",
        "在“我的订单”中点击订单即可查看物流单号和最新状态。发货后也会通过短信通知您。",
        "How to track your order",
        "Open the order under My Orders to see the tracking number and latest status. We also send a message when it ships.",
        ("orders", "tracking"),
    ),
    "payment": (
        "支付方式",
        "支持支付宝、微信支付、银联卡和主要信用卡。付款失败时请检查余额或更换支付方式。",
        "Payment methods",
        "We accept Alipay, WeChat Pay, UnionPay and major credit cards. If a payment fails, check your balance or try another method.",
        ("payment",),
    ),
    "coupons": (
        "优惠券使用说明",
        "优惠券在结算页面自动抵扣，每个订单限用一张，过期后不可使用，不可兑换现金。",
        "Using coupons",
        "Coupons apply automatically at checkout, one per order. Expired coupons cannot be used and have no cash value.",
        ("coupons", "promotions"),
    ),
    "damaged": (
        "收到的商品有损坏",
        "如商品在运输中损坏，请在签收后48小时内拍照联系客服，我们会补发或退款。",
        "My item arrived damaged",
        "If an item is damaged in transit, send us photos within 48 hours of delivery and we will replace it or refund you.",
        ("returns", "quality"),
    ),
    "sizes": (
        "尺码指南",
        "服装尺码请参考商品页面的尺码表，测量胸围和腰围后选择对应尺码。尺码不合适可在30天内免费换货。",
        "Size guide",
        "Check the size chart on each clothing page; measure chest and waist and pick the matching size. Wrong sizes can be exchanged free within 30 days.",
        ("clothing", "sizes"),
    ),
    "cancel": (
        "取消订单",
        "订单发货前可在“我的订单”中直接取消，款项将全额退回。已发货的订单请在签收后申请退货。",
        "Cancelling an order",
        "You can cancel an order under My Orders until it ships, with a full refund. Once shipped, request a return after delivery.",
        ("orders", "cancel"),
    ),
    "contact": (
        "联系人工客服",
        "人工客服服务时间为每天9:00至21:00。在聊天中输入“人工”即可转接。",
        "Talk to a person",
        "Our support team is available every day from 9:00 to 21:00. Type 'agent' in the chat to be connected.",
        ("support",),
    ),
}
