"""Writes on the wiki: explanations and their revisions, votes, comments, reports, locks, lists, bookmarks
and watches. One module per entity (explanations, votes, comments, moderation, lists; permissions for who may write),
keyword-only functions named <entity>_<action>; views, the admin and tasks only call these.

Permissions live here, not in the views, so that no crafted request gets round them: services raise
PermissionDenied (who may not do this, and why) or ValidationError (what to change), both with messages
meant for the person who tried.
"""
