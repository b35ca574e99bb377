"""The intents a shop's assistant acts on, with starter utterances in English and Chinese.

A shop rarely has labelled chat data on day one, so the assistant starts from
these hand-written examples; a shop's own labelled utterances (CSV
``text,category`` or the JSON layout, through ``retain train assistant
--data``) are added to them. Questions about policies are not intents: the
knowledge base answers those, so a new article needs no retraining.
Out-of-scope examples teach the classifier what is not its job.
"""

from __future__ import annotations

__all__ = ["ACTION_INTENTS", "OUT_OF_SCOPE_EXAMPLES", "STARTER_UTTERANCES", "starter_data"]

#: Intent -> utterances. ``{order}`` is filled with example order ids.
STARTER_UTTERANCES: dict[str, tuple[str, ...]] = {
    "order_status": (
        "where is my order",
        "where is my order {order}",
        "has my order shipped yet",
        "what is the status of my order",
        "track my order {order}",
        "when will my package arrive",
        "my parcel hasn't arrived",
        "can you check order {order} for me",
        "is {order} delivered",
        "I haven't received my order",
        "order status please",
        "what happened to my last order",
        "check my delivery",
        "and the other order?",
        "what about my other order",
        "tracking for order {order}",
        "我的订单到哪了",
        "帮我查一下订单{order}",
        "订单{order}发货了吗",
        "我的快递什么时候到",
        "查询物流",
        "包裹还没收到",
        "我的订单状态是什么",
        "查一下我最近的订单",
        "另一个订单呢",
        "那个订单怎么样了",
        "物流信息查一下",
    ),
    "start_return": (
        "I want to return an item",
        "I'd like to return order {order}",
        "start a return for {order}",
        "can I send this back",
        "return my order",
        "I want a refund for order {order}",
        "the product is broken, I want to return it",
        "please help me return {order}",
        "how do I send back my order {order}",
        "I need to return something I bought",
        "refund my last order",
        "this doesn't fit, I want to return it",
        "我要退货",
        "订单{order}我想退货",
        "帮我退掉这个订单",
        "申请退货",
        "我想退款",
        "东西坏了要退",
        "这个不合适想退",
        "我要退{order}",
    ),
    "recommend": (
        "what should I buy next",
        "recommend something for me",
        "any suggestions for me",
        "what products would I like",
        "show me something new",
        "what do you recommend",
        "can you suggest a gift",
        "what else might I like",
        "给我推荐点东西",
        "有什么推荐的吗",
        "推荐一些适合我的商品",
        "还有什么好买的",
        "买点什么好",
        "有什么新品",
    ),
    "human_agent": (
        "I want to talk to a human",
        "let me speak to a person",
        "connect me to an agent",
        "real person please",
        "can I talk to customer service",
        "transfer me to a human",
        "I need a human agent",
        "get me a manager",
        "转人工",
        "我要找人工客服",
        "人工服务",
        "让真人来回答",
        "帮我转接客服",
        "我要投诉，找你们经理",
    ),
    "greeting": (
        "hi",
        "hello",
        "hey there",
        "good morning",
        "hi, can you help me",
        "你好",
        "在吗",
        "您好",
        "早上好",
        "有人吗",
    ),
    "thanks": (
        "thanks",
        "thank you",
        "great, thanks a lot",
        "that's all, bye",
        "ok thank you",
        "goodbye",
        "谢谢",
        "好的谢谢",
        "没问题了，再见",
        "多谢",
    ),
    "shop_question": (
        "how long does shipping take",
        "how much is delivery",
        "what is your return policy",
        "when will I get my refund",
        "do you ship abroad",
        "how do I track my order",
        "what payment methods do you accept",
        "do you have a warranty",
        "how do I change my address",
        "are your products genuine",
        "运费多少",
        "多久能发货",
        "退货政策是什么",
        "退款多久到账",
        "支持哪些付款方式",
        "怎么修改地址",
        "商品是正品吗",
        "有保修吗",
    ),
}

#: Intents that trigger an action or a fixed move of the dialogue.
ACTION_INTENTS = ("order_status", "start_return", "recommend", "human_agent", "greeting", "thanks")

#: Things a shop assistant is not for.
OUT_OF_SCOPE_EXAMPLES: tuple[str, ...] = (
    "what's the weather tomorrow",
    "tell me a joke",
    "who won the football game",
    "what is the capital of France",
    "book me a flight to Paris",
    "how do I cook pasta",
    "what is the meaning of life",
    "play some music",
    "set an alarm for 7am",
    "what is 17 times 23",
    "who is the president",
    "translate hello into Spanish",
    "write me a poem",
    "how tall is Mount Everest",
    "what's my bank balance",
    "recommend a good movie",
    "今天天气怎么样",
    "讲个笑话",
    "帮我订一张机票",
    "中国的首都是哪里",
    "怎么做红烧肉",
    "股票明天会涨吗",
    "给我写一首诗",
    "现在几点了",
    "世界上最高的山是什么",
    "你喜欢什么电影",
)

_EXAMPLE_ORDERS = ("O000123", "O004567", "O012345")


def starter_data() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(in_scope, out_of_scope)`` utterance lists, order placeholders filled."""
    in_scope = []
    for intent, templates in STARTER_UTTERANCES.items():
        for i, template in enumerate(templates):
            order = _EXAMPLE_ORDERS[i % len(_EXAMPLE_ORDERS)]
            in_scope.append((template.format(order=order), intent))
    return in_scope, [(text, "oos") for text in OUT_OF_SCOPE_EXAMPLES]
