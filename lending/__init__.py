"""The lending app: credit against securities (融资融券), cut by area.

Each area is a subpackage with the same rooms where it needs them (models, services,
selectors, api, serializers, views, forms, urls, admin, tasks); `domain/` holds the pure
arithmetic. Areas import only the areas below them (README "Architecture"; `lint-imports`
checks it): demo, portal, risk, mtm, liquidation, margin_calls, financing, orders,
instruments, credit, common, domain. This package's own modules only gather the areas for Django
(apps, models, admin, urls, tasks)."""
