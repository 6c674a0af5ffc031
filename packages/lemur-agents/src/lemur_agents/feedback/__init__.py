"""Feedback providers for the episode loop.

Public API::

    from lemur_agents.feedback import (
        FeedbackProvider, FeedbackRequest, EnvironmentFeedback, SimulatedUserFeedback,
        reveals_reference,
    )
    spec = EpisodeSpec(..., feedback=SimulatedUserFeedback(load_model("openai:...#gpt-4")),
                       reference="42")        # the reference reaches the provider only

A provider gets one batched ``feedback(requests)`` call per loop round; ``None`` means no
feedback. ``SimulatedUserFeedback`` rejects (and regenerates) feedback that reveals the
reference answer, following MINT's rule.
"""

from lemur_agents.feedback.base import FeedbackProvider, FeedbackRequest, FeedbackResult
from lemur_agents.feedback.providers import (
    FEEDBACK_SYSTEM_PROMPT,
    EnvironmentFeedback,
    SimulatedUserFeedback,
    reveals_reference,
)

__all__ = [
    "FEEDBACK_SYSTEM_PROMPT",
    "EnvironmentFeedback",
    "FeedbackProvider",
    "FeedbackRequest",
    "FeedbackResult",
    "SimulatedUserFeedback",
    "reveals_reference",
]
