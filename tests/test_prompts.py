"""The `plain` translation prompt with the shipped plain chat template: the base model's line format, learnt with
an EOS, and the loss exactly on the answer."""

from __future__ import annotations

from importlib import resources


def test_plain_template_renders_the_line_format_and_masks_only_the_answer(tiny_model):
    from hala.models import load_tokenizer, turn_end_token_ids
    from hala.prompts import translation_messages
    from hala.train.masks import mask_strategy

    tok = load_tokenizer(tiny_model)
    tok.chat_template = resources.files("hala").joinpath("data/plain_chat_template.jinja").read_text()
    prompt = translation_messages("Good morning.", "en", "ar", "plain")
    assert prompt == [{"role": "user", "content": "English: Good morning.\nArabic:"}]
    full = prompt + [{"role": "assistant", "content": "صباح الخير."}]
    assert (
        tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        == f"{tok.bos_token}English: Good morning.\nArabic:"
    )
    assert (
        tok.apply_chat_template(full, tokenize=False)
        == f"{tok.bos_token}English: Good morning.\nArabic: صباح الخير.{tok.eos_token}"
    )
    assert mask_strategy(tok) == "markers" and turn_end_token_ids(tok) == [tok.eos_token_id]
    enc = tok.apply_chat_template(full, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    trained = [i for i, m in zip(enc["input_ids"], enc["assistant_masks"]) if m]
    assert tok.decode(trained) == f" صباح الخير.{tok.eos_token}"
