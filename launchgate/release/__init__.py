"""The release itself: preflight, identity and decision records, resume after a crash, promotion state,
operator commands.
"""
