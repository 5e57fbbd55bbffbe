"""The Pulumi program run offline under mocks: what a stack would register, recorded as the engine sees it."""
from .recording import (MASK, UNKNOWN, UNKNOWN_TEXT, Record, Recording, computed_outputs, mock_id, record_program,
                        record_stack, tree)

__all__ = ["MASK", "UNKNOWN", "UNKNOWN_TEXT", "Record", "Recording", "computed_outputs", "mock_id", "record_program",
           "record_stack", "tree"]
