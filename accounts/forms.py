"""Sign-up: Django's form, refusing names that read differently than they look or look like someone else's."""

from django import forms
from django.contrib.auth.forms import UserCreationForm, UsernameField

from accounts.models import UsernameSkeleton
from accounts.usernames import username_skeleton
from chatsite.text import has_visible_text, strip_bidi_controls


class SignupUsernameField(UsernameField):
    def to_python(self, value):
        # Invisible direction controls are removed, not refused: pasted names often carry them.
        return strip_bidi_controls(super().to_python(value) or "")


class SignupForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ("username",)
        field_classes = {"username": SignupUsernameField}

    def clean_username(self):
        username = super().clean_username()  # also refuses one differing from a user's name only in case
        if username and not has_visible_text(username):
            raise forms.ValidationError("A name needs visible characters.", code="invisible_username")
        if username and UsernameSkeleton.objects.filter(skeleton=username_skeleton(username)).exists():
            raise forms.ValidationError(
                "That name looks too much like someone else's here; please choose one that is clearly different.",
                code="confusable_username",
            )
        return username
