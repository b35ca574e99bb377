"""The customer-service assistant: ``train assistant``, ``chat`` and its
benchmarks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from retain.cli.base import (
    CommandError,
    app,
    bench_app,
    err,
    intent_settings,
    llm_backend,
    open_store,
    out,
    train_app,
    write_json,
)
from retain.config import get_settings


@train_app.command("assistant")
def train_assistant(
    data: Annotated[
        Path | None,
        typer.Option(help="The shop's labelled utterances: CSV text,category or the JSON layout."),
    ] = None,
    fine_tune_epochs: Annotated[
        int, typer.Option(help="Fine-tune the encoder first (worth it from a few thousand).")
    ] = 0,
) -> None:
    """Train the assistant's intent model: starter utterances plus the shop's own.

    Example: retain train assistant --data my_intents.csv
    """
    from retain.assistant.service import train_assistant as train
    from retain.data.loaders.intents import read_intents

    settings = get_settings()
    extra = read_intents(data) if data is not None else None
    from dataclasses import replace

    options = replace(intent_settings(settings), fine_tune_epochs=fine_tune_epochs)
    result = train(settings.models_dir, extra, options)
    out.print(
        f"assistant model {result.version}: {len(result.intents)} intents "
        f"({', '.join(result.intents)}), {result.utterances:,} utterances, {result.seconds:.1f} s"
    )


@app.command()
def chat(
    user: Annotated[str, typer.Option(help="The customer you are talking as.")],
    conversation: Annotated[str | None, typer.Option(help="Continue this conversation id.")] = None,
    message: Annotated[
        list[str] | None,
        typer.Option("--message", "-m", help="Send this and exit (repeatable); else interactive."),
    ] = None,
) -> None:
    """Talk to the customer-service assistant as one customer (Ctrl-D ends).

    Example: retain chat --user U00012; retain chat --user U00012 -m "where is my order"
    """
    from retain.assistant.service import build_assistant

    settings = get_settings()
    with open_store(settings) as store:
        bot = build_assistant(
            store,
            settings.models_dir,
            knowledge_encoder=settings.assistant.knowledge_encoder,
            language_encoders=settings.assistant.knowledge_language_encoders,
            llm=llm_backend(settings),
        )
        lines = iter(message) if message else _prompt_lines()
        for line in lines:
            reply = bot.reply(user, line, conversation)
            conversation = reply.conversation_id
            # No markup: "[kb-refunds-en]" in a citation is text, not a Rich style tag.
            out.print(f"bot: {reply.text}", markup=False, highlight=False)
        if conversation:
            err.print(f"conversation {conversation}")


def _prompt_lines() -> Iterator[str]:
    while True:
        try:
            yield input("you: ")
        except EOFError:
            return


@bench_app.command("intent")
def bench_intent(
    data: Annotated[Path, typer.Option(help="Training utterances: CSV text,category or JSON.")],
    test: Annotated[Path | None, typer.Option(help="Test CSV, when separate.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    oos_intents: Annotated[
        int, typer.Option(help="Hold out this many intents as out-of-scope data.")
    ] = 0,
    oos_learned: Annotated[
        bool,
        typer.Option(
            "--oos-learned/--oos-threshold-only",
            help="Held-out intents' train utterances are learned as a class, or only set the "
            "threshold.",
        ),
    ] = True,
    seed: Annotated[
        int, typer.Option(help="Seed of the calibration split and held-out intents.")
    ] = 0,
    fine_tune_epochs: Annotated[
        int, typer.Option(help="Fine-tune the encoder this many epochs first (0: frozen).")
    ] = 5,
    fine_tune_bf16: Annotated[
        bool,
        typer.Option(
            help="Fine-tune in bfloat16 where the CPU has it natively (float32 elsewhere)."
        ),
    ] = True,
    int8: Annotated[
        bool,
        typer.Option(help="Serve the tuned encoder in int8 (faster, less accurate)."),
    ] = False,
    baselines: Annotated[bool, typer.Option(help="Run the baselines in the same run.")] = True,
) -> None:
    """Intent accuracy, macro-F1, out-of-scope recall/precision and latency, with baselines.

    Example: retain bench intent --data banking77/train.csv --test banking77/test.csv
    --json intent.json
    """
    from retain.assistant.bench import run_intent_benchmark

    result = run_intent_benchmark(
        data,
        test=test,
        oos_intents=oos_intents,
        oos_learned=oos_learned,
        seed=seed,
        fine_tune_epochs=fine_tune_epochs,
        fine_tune_bf16=fine_tune_bf16,
        int8=int8,
        baselines=baselines,
    )
    write_json(result, json_out)


@bench_app.command("assistant")
def bench_assistant(
    data: Annotated[
        Path,
        typer.Option(
            help="Labelled questions: Bitext CSV (utterance,intent) or text,category; "
            "with --format ecd, the ECD sample's folder or one of its files."
        ),
    ],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    per_intent: Annotated[int, typer.Option(help="Questions drawn per intent.")] = 60,
    seed: Annotated[int, typer.Option(help="Seed of the draw.")] = 0,
    baselines: Annotated[bool, typer.Option(help="Run the baselines in the same run.")] = True,
    kb: Annotated[
        Path | None,
        typer.Option(help="Knowledge base: the Ecommerce FAQ JSON instead of the demo articles."),
    ] = None,
    data_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="intents (labelled questions) or ecd (real Chinese shoppers' turns, "
            "scored against this project's labels).",
        ),
    ] = "intents",
) -> None:
    """What the assistant does with each question's first message: right answer, wrong answer,
    "I don't know" or a person; with the knowledge-base baselines.

    Example: retain bench assistant --data cs-8k/Bitext_Sample_Customer_Service_Training_Dataset.csv
    --json assistant.json
    """
    from retain.assistant.answer_bench import run_answer_benchmark

    if data_format not in ("intents", "ecd"):
        raise CommandError(f"--format must be intents or ecd, got {data_format!r}")
    result = run_answer_benchmark(
        data,
        per_intent=per_intent,
        seed=seed,
        baselines=baselines,
        kb=kb,
        data_format="ecd" if data_format == "ecd" else "intents",
    )
    write_json(result, json_out)


@bench_app.command("chat-sentiment")
def bench_chat_sentiment(
    reviews: Annotated[
        Path, typer.Option(help="Labelled reviews, as `retain bench sentiment --data` reads them.")
    ],
    data: Annotated[
        Path, typer.Option(help="Customer-service messages: Bitext CSV or text,category.")
    ],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    complaint_intent: Annotated[str, typer.Option(help="The intent of complaints.")] = "complaint",
) -> None:
    """Does the review sentiment model flag complaints in chat more than other messages?

    Example: retain bench chat-sentiment --reviews amazon-multidomain-sentiment
    --data cs-8k/Bitext_Sample_Customer_Service_Training_Dataset.csv --json chat.json
    """
    from retain.assistant.anger_bench import run_chat_sentiment_benchmark

    result = run_chat_sentiment_benchmark(reviews, data, complaint_intent=complaint_intent)
    write_json(result, json_out)
