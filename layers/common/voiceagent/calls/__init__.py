"""The call flow: placing calls, answering, machine detection and voicemail policies, the end of a call, its
outcome and its report."""
