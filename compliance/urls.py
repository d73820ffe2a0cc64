"""This app's routes. config/urls.py mounts them: portal_urlpatterns under /portal/
(namespace "portal"), staff_urlpatterns under /staff/ ("staff"), api_urlpatterns under
/api/v1/ ("v1"). Namespaces are shared between apps, so prefix every name with the app."""

from django.urls import path

from . import api, views

portal_urlpatterns: list = [
    path("compliance/", views.OverviewView.as_view(), name="compliance-overview"),
    path(
        "compliance/questionnaire/",
        views.QuestionnaireView.as_view(),
        name="compliance-questionnaire",
    ),
    path(
        "compliance/assessments/<int:pk>/",
        views.AssessmentDetailView.as_view(),
        name="compliance-assessment-detail",
    ),
    path(
        "compliance/suitability/",
        views.SuitabilityView.as_view(),
        name="compliance-suitability",
    ),
    path("compliance/disclosure/", views.DisclosureView.as_view(), name="compliance-disclosure"),
    path(
        "compliance/professional/",
        views.ProfessionalRequestView.as_view(),
        name="compliance-professional-request",
    ),
    path(
        "compliance/restricted-holdings/",
        views.RestrictedHoldingsView.as_view(),
        name="compliance-restricted-holdings",
    ),
]
staff_urlpatterns: list = [
    path("compliance/investors/", views.InvestorListView.as_view(), name="compliance-investors"),
    path(
        "compliance/investors/verify/<int:user_id>/",
        views.IdentityVerifyView.as_view(),
        name="compliance-identity-verify",
    ),
    path(
        "compliance/investors/<int:pk>/",
        views.InvestorFileView.as_view(),
        name="compliance-investor-file",
    ),
    path("compliance/calendar/", views.CalendarView.as_view(), name="compliance-calendar"),
    path(
        "compliance/calendar/proposals/<int:pk>/document/",
        views.CalendarDocumentView.as_view(),
        name="compliance-calendar-document",
    ),
    path(
        "compliance/daily-assets/",
        views.DailyAssetsImportView.as_view(),
        name="compliance-daily-assets",
    ),
    path(
        "compliance/professional-requests/",
        views.ProfessionalRequestQueueView.as_view(),
        name="compliance-professional-requests",
    ),
    path(
        "compliance/professional-requests/<int:pk>/decide/",
        views.ProfessionalRequestDecideView.as_view(),
        name="compliance-professional-request-decide",
    ),
]
api_urlpatterns: list = [
    path("compliance/investors/", api.IdentityVerifiedApi.as_view(), name="compliance-investors"),
    path(
        "compliance/investors/<int:pk>/classification/",
        api.ClassificationApi.as_view(),
        name="compliance-investor-classification",
    ),
    path(
        "compliance/investors/<int:pk>/eligibility-checks/",
        api.EligibilityCheckApi.as_view(),
        name="compliance-investor-eligibility-check",
    ),
    path(
        "compliance/investors/<int:pk>/refusals/",
        api.RefusalApi.as_view(),
        name="compliance-investor-refusal",
    ),
    path(
        "compliance/red-flags/<int:pk>/resolve/",
        api.RedFlagResolveApi.as_view(),
        name="compliance-red-flag-resolve",
    ),
    path(
        "compliance/eligibility-facts/",
        api.EligibilityFactsApi.as_view(),
        name="compliance-eligibility-facts",
    ),
    path(
        "compliance/questionnaire/",
        api.QuestionnaireApi.as_view(),
        name="compliance-questionnaire",
    ),
    path(
        "compliance/assessments/",
        api.AssessmentListApi.as_view(),
        name="compliance-assessment-list",
    ),
    path(
        "compliance/assessments/<int:pk>/",
        api.AssessmentDetailApi.as_view(),
        name="compliance-assessment-detail",
    ),
    path("compliance/status/", api.StatusApi.as_view(), name="compliance-status"),
    path("compliance/suitability/", api.SuitabilityApi.as_view(), name="compliance-suitability"),
    path(
        "compliance/disclosures/current/",
        api.CurrentDisclosureApi.as_view(),
        name="compliance-disclosure-current",
    ),
    path(
        "compliance/acknowledgements/",
        api.AcknowledgementListApi.as_view(),
        name="compliance-acknowledgement-list",
    ),
    path(
        "compliance/daily-assets/",
        api.DailyAssetsApi.as_view(),
        name="compliance-daily-assets",
    ),
    path(
        "compliance/restricted-holdings/",
        api.RestrictedHoldingsApi.as_view(),
        name="compliance-restricted-holdings",
    ),
    path(
        "compliance/restricted-holdings/end/",
        api.RestrictedHoldingEndApi.as_view(),
        name="compliance-restricted-holding-end",
    ),
    path(
        "compliance/restricted-declarations/",
        api.RestrictedDeclarationApi.as_view(),
        name="compliance-restricted-declarations",
    ),
    path(
        "compliance/investors/<int:pk>/restricted-holdings/",
        api.StaffRestrictedHoldingsApi.as_view(),
        name="compliance-investor-restricted-holdings",
    ),
    path(
        "compliance/investors/<int:pk>/restricted-holdings/end/",
        api.StaffRestrictedHoldingEndApi.as_view(),
        name="compliance-investor-restricted-holding-end",
    ),
    path(
        "compliance/calendar-proposals/",
        api.CalendarProposalsApi.as_view(),
        name="compliance-calendar-proposals",
    ),
    path(
        "compliance/calendar-proposals/<int:pk>/decision/",
        api.CalendarProposalDecisionApi.as_view(),
        name="compliance-calendar-proposal-decision",
    ),
]
