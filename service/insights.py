"""Deterministic explanations of recommendations, built from the data alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["TasteProfile", "chef_choice", "insight"]


@dataclass(frozen=True, slots=True)
class TasteProfile:
    """What the explanations know about the user."""

    total_orders: int
    cuisine_counts: dict[str, int]

    @property
    def favorite_cuisines(self) -> list[str]:
        """Up to three cuisines, most ordered first (ties alphabetical)."""
        ranked = sorted(self.cuisine_counts.items(), key=lambda item: (-item[1], item[0]))
        return [name for name, count in ranked[:3] if count > 0]

    @property
    def cold(self) -> bool:
        """True when there is no order history to personalise on."""
        return self.total_orders == 0


def insight(restaurant: dict[str, Any], score: float, profile: TasteProfile) -> str:
    """One sentence saying why ``restaurant`` is recommended."""
    cuisine = restaurant["cuisine_type"]
    rating = float(restaurant["rating"])
    price = restaurant["price_range"]
    if profile.cold:
        return f"Popular with diners: rated {rating:.1f}/5, {price} prices, {cuisine} cuisine."
    orders_here = profile.cuisine_counts.get(cuisine, 0)
    if cuisine in profile.favorite_cuisines:
        return (
            f"You often order {cuisine} ({orders_here} orders); this one matches your taste "
            f"at {score:.0%}, rated {rating:.1f}/5 with {price} prices."
        )
    return (
        f"Something new: {cuisine} that matches your taste at {score:.0%}, "
        f"rated {rating:.1f}/5 with {price} prices."
    )


def chef_choice(
    restaurant: dict[str, Any], score: float, profile: TasteProfile
) -> tuple[str, list[str], float]:
    """``(explanation, reasoning, confidence)`` for the single best recommendation.

    Confidence grows with the similarity and with how much history backs it (full at 10
    orders); a cold-start pick is only as confident as its rating.
    """
    name = restaurant["name"]
    cuisine = restaurant["cuisine_type"]
    rating = float(restaurant["rating"])
    reasoning = [f"Rated {rating:.1f}/5", f"{restaurant['price_range'].capitalize()} prices"]
    if profile.cold:
        explanation = f"{name} is a crowd favourite to start with: rated {rating:.1f}/5."
        reasoning.insert(0, "No order history yet: picked among the best-rated restaurants")
        return explanation, reasoning, round(0.5 * score, 3)
    explanation = f"{name} is the chef's choice for you: it matches your taste at {score:.0%}."
    reasoning.insert(0, f"Similarity to your taste profile: {score:.2f}")
    if cuisine in profile.favorite_cuisines:
        count = profile.cuisine_counts.get(cuisine, 0)
        reasoning.insert(1, f"{cuisine} is one of your favourite cuisines ({count} orders)")
    else:
        reasoning.insert(1, f"{cuisine} is a cuisine you have rarely ordered: something new")
    reasoning.append("Not among your 10 most recent orders")
    history = min(1.0, profile.total_orders / 10)
    return explanation, reasoning, round(score * (0.5 + 0.5 * history), 3)
