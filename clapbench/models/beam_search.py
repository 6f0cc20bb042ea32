"""Beam-search decoding from a GPT-2 prefix, step for step as msclap's ``CLAPWrapper._generate_beam``.

What the original does, and clapbench keeps (so that the same weights give the same token ids):
- every step runs the decoder over the whole sequence so far (prefix + tokens; no key/value cache);
- log-probabilities are ``softmax(logits / temperature).log()``; a beam's score is the sum of its
  tokens' log-probabilities, ranked by that sum divided by the beam's length;
- a stopped beam is extended with token 0 at no cost and its length stops growing;
- the stop token is the first id of the tokenised stop string: for ``' <|endoftext|>'`` that is the id
  of the leading space ('Ġ'), which the captioner learned to emit before ``<|endoftext|>``;
- decoding stops when every beam has stopped or after ``entry_length`` tokens; the best beam (highest
  mean log-probability) is decoded up to its length, stop token included.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class BeamOptions:
    beam_size: int = 5
    entry_length: int = 67
    temperature: float = 1.0
    stop_token: str = " <|endoftext|>"

    def describe(self) -> dict:
        return {"beam_size": self.beam_size, "entry_length": self.entry_length, "temperature": self.temperature, "stop_token": self.stop_token}


@torch.inference_mode()
def generate_beam(gpt, embed: torch.Tensor, stop_token_index: int, options: BeamOptions) -> list[list[int]]:
    """Token ids of every beam for one prefix ``embed`` (1, P, D), best first (each cut to its length)."""
    beam_size = options.beam_size
    device = embed.device
    tokens = None
    scores = None
    seq_lengths = torch.ones(beam_size, device=device)
    is_stopped = torch.zeros(beam_size, device=device, dtype=torch.bool)
    generated = embed
    wte = gpt.transformer.wte
    for _ in range(options.entry_length):
        logits = gpt(inputs_embeds=generated).logits
        logits = logits[:, -1, :] / (options.temperature if options.temperature > 0 else 1.0)
        logits = logits.softmax(-1).log()
        if scores is None:
            scores, next_tokens = logits.topk(beam_size, -1)
            generated = generated.expand(beam_size, *generated.shape[1:])
            next_tokens, scores = next_tokens.permute(1, 0), scores.squeeze(0)
            tokens = next_tokens
        else:
            logits[is_stopped] = -float("inf")
            logits[is_stopped, 0] = 0
            scores_sum = scores[:, None] + logits
            seq_lengths[~is_stopped] += 1
            scores_sum_average = scores_sum / seq_lengths[:, None]
            scores_sum_average, next_tokens = scores_sum_average.view(-1).topk(beam_size, -1)
            next_tokens_source = next_tokens // scores_sum.shape[1]
            seq_lengths = seq_lengths[next_tokens_source]
            next_tokens = (next_tokens % scores_sum.shape[1]).unsqueeze(1)
            tokens = torch.cat((tokens[next_tokens_source], next_tokens), dim=1)
            generated = generated[next_tokens_source]
            scores = scores_sum_average * seq_lengths
            is_stopped = is_stopped[next_tokens_source]
        next_token_embed = wte(next_tokens.squeeze()).view(generated.shape[0], 1, -1)
        generated = torch.cat((generated, next_token_embed), dim=1)
        is_stopped = is_stopped + next_tokens.eq(stop_token_index).squeeze()
        if is_stopped.all():
            break
    scores = scores / seq_lengths
    order = scores.argsort(descending=True)
    rows = tokens.cpu().tolist()
    lengths = seq_lengths.cpu().tolist()
    return [rows[i][: int(lengths[i])] for i in order.tolist()]
