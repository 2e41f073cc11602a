"""Demo data, created through the real services and idempotent across restarts."""

from datetime import date, time, timedelta

from chalicelib.accounts import service as accounts
from chalicelib.accounts.models import Profile
from chalicelib.accounts.schemas import ProfileCreate
from chalicelib.booking import service as booking
from chalicelib.booking.schemas import SessionCreate
from chalicelib.core import clock
from chalicelib.core.crypto import blind_index
from chalicelib.core.errors import Conflict
from chalicelib.core.http import Caller
from chalicelib.doctors import service as doctors
from chalicelib.doctors.schemas import DoctorApply
from chalicelib.followup import templates as followup_templates
from chalicelib.referrals import partners as referral_partners
from chalicelib.referrals.schemas import HospitalIn, SurgeonIn

ADMIN = "13800000000"
DOCTORS = [
    ("13800000001", DoctorApply(name="王建国", hospital="北京协和医院", department="心内科", title="chief",
                                specialties=["高血压", "冠心病"], licence_no="110000199001", bio="心内科主任医师")),
    ("13800000002", DoctorApply(name="李秀英", hospital="上海华山医院", department="骨科", title="associate_chief",
                                specialties=["关节置换", "运动损伤"], licence_no="310000198802", bio="骨科副主任医师")),
]
PATIENTS = [
    ("13900000001", [("self", "张伟", "male", date(1968, 3, 5)), ("child", "张小雨", "female", date(2016, 7, 1))]),
    ("13900000002", [("self", "刘芳", "female", date(1975, 11, 20))]),
]


def _account(phone: str):
    return accounts._account_for_phone(phone, blind_index(phone, "phone"))


def seed() -> list[tuple[str, str, str]]:
    out = []
    admin = _account(ADMIN)
    accounts.set_role(admin.account_id, "admin")
    out.append(("admin", ADMIN, "operator: verifies doctors, refunds"))
    followup_templates.seed_library()  # 随访 library: post-op 30 days, PHQ-9, pain NRS, temperature
    for phone, application in DOCTORS:
        acct = _account(phone)
        try:
            doctors.apply(Caller(acct.account_id, acct.role), application)
        except Conflict:
            pass
        doctors.verify(Caller(admin.account_id, "admin"), acct.account_id)
        note = f"{application.name} · {application.hospital} {application.department}"
        note += _demo_session(Caller(acct.account_id, "doctor"), application.hospital)
        if application.department == "骨科":
            note += _demo_surgeon(Caller(acct.account_id, "doctor"))
        out.append(("doctor", phone, note))
    _demo_hospital(Caller(admin.account_id, "admin"))
    for phone, profiles in PATIENTS:
        acct = _account(phone)
        caller = Caller(acct.account_id, "patient")
        existing = {p.real_name for p in Profile.query(acct.account_id)}
        for relation, name, gender, born in profiles:
            if name not in existing:
                accounts.create_profile(caller, ProfileCreate(relation=relation, real_name=name, gender=gender,
                                                              birth_date=born))
        out.append(("patient", phone, "profiles: " + ", ".join(p[1] for p in profiles)))
    return out


def _demo_session(doctor: Caller, hospital: str) -> str:
    """One open paid 加号 session three days out, unless the doctor already has one."""
    if not booking.open_sessions(doctor.account_id, "1", None).items:
        day = (clock.now() + timedelta(hours=8) + timedelta(days=3)).date()  # Asia/Shanghai date
        booking.publish_session(doctor, SessionCreate(date=day, start_time=time(14), end_time=time(16), hospital=hospital,
                                                      room="加号门诊", capacity=3, fee_fen=5000))
    return " · an open 加号 session"


def _demo_surgeon(doctor: Caller) -> str:
    """A visiting surgeon for surgery referrals (名医主刀), free to travel in the coming month."""
    today = (clock.now() + timedelta(hours=8)).date()
    referral_partners.set_offer(doctor, SurgeonIn(specialties=["骨科", "关节置换"], region_code="310104",
                                                  windows=[{"starts_on": today, "ends_on": today + timedelta(days=30)}]))
    return " · visiting surgeon (名医主刀)"


def _demo_hospital(admin: Caller) -> None:
    """One partner county hospital with operating-room and bed windows (once)."""
    if referral_partners.list_hospitals(admin, 1, None).items:
        return
    today = (clock.now() + timedelta(hours=8)).date()
    referral_partners.create_hospital(admin, HospitalIn(
        name="大名县人民医院", level="2A", region_code="130425", region_name="河北省邯郸市大名县",
        departments=["骨科", "普外科"], contacts=[{"name": "李科长", "role": "医务科", "phone": "03106520000"}],
        windows=[{"kind": "or", "starts_on": today, "ends_on": today + timedelta(days=30), "capacity": 2},
                 {"kind": "bed", "starts_on": today, "ends_on": today + timedelta(days=30), "capacity": 6}]))
