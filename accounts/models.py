"""Users (e-mail login) and investor profiles.

Identity and bank-account numbers are stored three ways: Fernet-encrypted (the only copy
that can be read back, and only by code that asks for it), a keyed digest (uniqueness and
look-up) and a masked form (everything that displays them: admin, API, logs, templates).
"""

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.models import AbstractAuthToken
from simple_history.models import HistoricalRecords

from . import sensitive
from .audit import stamp


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        stamp(user, actor=None, reason="user created with the user manager (createsuperuser)")
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, email: str):
        return self.get(email__iexact=email)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(_("e-mail address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    is_staff = models.BooleanField(
        _("staff"), default=False, help_text=_("Desk employees; investors never are.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def role_names(self) -> list[str]:
        return sorted(self.groups.values_list("name", flat=True))

    @property
    def role_labels(self) -> list[str]:
        """The roles in the reader's language (role_names are the codes)."""
        from accounts.roles import Role

        return [str(Role(n).label) if n in Role.values else n for n in self.role_names]


class InvestorType(models.TextChoices):
    INDIVIDUAL = "individual", _("Individual")
    INSTITUTION = "institution", _("Institution")
    PRIVATE_FUND = "private_fund", _("Private securities investment fund")


class InvestorCategory(models.TextChoices):
    ORDINARY = "ordinary", _("Ordinary investor")
    PROFESSIONAL = "professional", _("Professional investor")


class IdentityType(models.TextChoices):
    RESIDENT_ID = "resident_id", _("Resident identity card")
    PASSPORT = "passport", _("Passport")
    HK_MACAU_PERMIT = "hk_macau_permit", _("Mainland travel permit (HK/Macau)")
    TAIWAN_PERMIT = "taiwan_permit", _("Mainland travel permit (Taiwan)")
    CREDIT_CODE = "credit_code", _("Unified social credit code")


class InvestorProfile(models.Model):
    user = models.OneToOneField(
        User, on_delete=models.PROTECT, related_name="investor_profile", verbose_name=_("user")
    )
    investor_type = models.CharField(
        _("investor type"),
        max_length=16,
        choices=InvestorType.choices,
        default=InvestorType.INDIVIDUAL,
    )
    real_name = models.CharField(_("real name"), max_length=200)
    id_type = models.CharField(
        _("identity document type"), max_length=24, choices=IdentityType.choices
    )
    id_number_encrypted = models.TextField(editable=False)
    id_number_digest = models.CharField(max_length=64, editable=False)
    id_number_masked = models.CharField(_("identity number"), max_length=40, editable=False)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    bank_name = models.CharField(_("bank of record"), max_length=120)
    bank_account_encrypted = models.TextField(editable=False)
    bank_account_digest = models.CharField(max_length=64, editable=False, db_index=True)
    bank_account_masked = models.CharField(
        _("bank account of record"), max_length=40, editable=False
    )
    category = models.CharField(
        _("category"),
        max_length=16,
        choices=InvestorCategory.choices,
        default=InvestorCategory.ORDINARY,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("investor profile")
        verbose_name_plural = _("investor profiles")
        constraints = [
            # Real-name rule: one investor per identity document.
            models.UniqueConstraint(
                fields=["id_type", "id_number_digest"], name="accounts_investor_identity_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.real_name} ({self.id_number_masked})"

    def set_id_number(self, value: str) -> None:
        value = sensitive.normalise(value)
        self.id_number_encrypted = sensitive.encrypt(value)
        self.id_number_digest = sensitive.digest(value)
        self.id_number_masked = sensitive.mask_identity(value)

    def set_bank_account(self, value: str) -> None:
        value = sensitive.normalise(value)
        self.bank_account_encrypted = sensitive.encrypt(value)
        self.bank_account_digest = sensitive.digest(value)
        self.bank_account_masked = sensitive.mask_account(value)

    def reveal_id_number(self) -> str:
        """The clear identity number, for regulator filings only; never display or log it."""
        return sensitive.decrypt(self.id_number_encrypted)

    def is_bank_account_of_record(self, account_number: str) -> bool:
        return sensitive.digest(account_number) == self.bank_account_digest


class ApiToken(AbstractAuthToken):
    """An API token (django-rest-knox's token with the desk's columns): the database keeps only
    its SHA-512 digest (`digest`, knox) and the first characters (`token_key`, to tell tokens
    apart); the token itself is shown once, when issued.

    Each token names the device it was issued for, expires (`expiry`: hours for desk staff,
    days for investors and machines, settings.API_TOKEN_TTL_*) and is revoked by setting
    `revoked_at` (the row stays: who held access, and when, is evidence). A desk staff token
    carries the second factor until `verified_until`, set only when it was issued with a
    current authenticator code (accounts.second_factor; settings.API_TOKEN_SECOND_FACTOR_MINUTES).
    """

    # knox's digest is the primary key; an integer id keeps the secret's digest out of URLs
    id = models.BigAutoField(primary_key=True)
    digest = models.CharField(max_length=128, unique=True)
    name = models.CharField(_("device"), max_length=80)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    verified_until = models.DateTimeField(
        _("second factor until"),
        null=True,
        blank=True,
        help_text=_("Staff tokens issued with an authenticator code may write until then."),
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(  # None: the system (a command or a task)
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created"]
        permissions = [("revoke_any_token", _("Can revoke another user's API token"))]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expiry__isnull=False), name="accounts_apitoken_expires"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.token_key}… {self.name} ({self.user})"

    def status_at(self, now) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expiry <= now:
            return "expired"
        return "active"
