"""Seed the reference data every desk needs: the Shanghai exchange calendar (from
exchange_calendars' XSHG, every full year it knows), the dated regulator parameters and the
margin-financing product. Later years are added by staff when the exchange publishes them."""

from datetime import date, timedelta

from django.db import migrations


def seed_calendar(apps, schema_editor):
    import exchange_calendars as xcals

    CalendarYear = apps.get_model("compliance", "CalendarYear")
    ExchangeHoliday = apps.get_model("compliance", "ExchangeHoliday")
    xshg = xcals.get_calendar("XSHG")
    first, last = xshg.first_session.date(), xshg.last_session.date()
    sessions = {ts.date() for ts in xshg.sessions}
    first_year = first.year + (0 if first == date(first.year, 1, 1) else 1)
    holidays = []
    for year in range(first_year, last.year + 1):
        if CalendarYear.objects.filter(year=year).exists():
            continue
        CalendarYear.objects.create(year=year, source=f"exchange_calendars {xcals.__version__} XSHG")
        day = date(year, 1, 1)
        while day.year == year and day <= last:
            if day.weekday() < 5 and day not in sessions:
                holidays.append(ExchangeHoliday(date=day, name=""))
            day += timedelta(days=1)
    ExchangeHoliday.objects.bulk_create(holidays, ignore_conflicts=True)


def seed_parameters(apps, schema_editor):
    from compliance.parameters import MARGIN_PRODUCT_CODE, seed_parameters

    seed_parameters(apps.get_model("compliance", "RegulatoryParameter"))
    Product = apps.get_model("compliance", "Product")
    Product.objects.get_or_create(
        code=MARGIN_PRODUCT_CODE, defaults={"name": "Margin financing", "risk_level": 4}
    )


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [
        migrations.RunPython(seed_calendar, migrations.RunPython.noop),
        migrations.RunPython(seed_parameters, migrations.RunPython.noop),
    ]
