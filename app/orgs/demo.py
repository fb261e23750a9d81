"""Demo data: one street, 2 communities, 4 grids, buildings, departments, a user per role.

Demo passwords exist only here, and this runs only in demo mode (README lists the users).
"""

from __future__ import annotations

from argon2 import PasswordHasher
from sqlalchemy import select

from app.database import write_transaction
from app.orgs.models import OrgUnit
from app.orgs.service import create_unit, create_user, grant

DEMO_PASSWORD = "gridcase-demo"

# username, display name, role, unit code, include_below
DEMO_USERS = [
    ("grid1", "网格员 王芳 Wang Fang", "grid_worker", "G-01", False),
    ("grid2", "网格员 李强 Li Qiang", "grid_worker", "G-02", False),
    ("building1", "楼栋长 赵敏 Zhao Min", "building_head", "G-01", False),
    ("staff1", "社区工作者 陈静 Chen Jing", "community_staff", "C-01", True),
    ("leader1", "社区书记 刘洋 Liu Yang", "community_leader", "C-01", True),
    ("dispatcher", "街道吹哨 周涛 Zhou Tao", "street_dispatcher", "S-01", True),
    ("dept_city", "城管科 孙磊 Sun Lei", "department_staff", "D-CITY", False),
    ("dept_housing", "住建科 吴刚 Wu Gang", "department_staff", "D-HOUSING", False),
    ("supervisor", "督查 郑红 Zheng Hong", "supervisor", "S-01", True),
    ("volunteer1", "志愿者 何亮 He Liang", "volunteer", "C-01", False),
    ("auditor", "审计 冯雪 Feng Xue", "auditor", "S-01", True),
    ("designer", "流程设计 马超 Ma Chao", "designer", "S-01", True),
    ("admin", "管理员 Admin", "admin", "S-01", True),
]


def seed_demo() -> bool:
    """Create the demo org tree and users; False when they already exist."""
    with write_transaction() as session:
        if session.scalar(select(OrgUnit).where(OrgUnit.code == "S-01")) is not None:
            return False
        district = create_unit(code="D-01", name="示范区 Demo District", kind="district")
        street = create_unit(
            code="S-01", name="和平街道 Heping Street", kind="street", parent=district
        )
        units = {"S-01": street}
        for c in (1, 2):
            community = create_unit(
                code=f"C-0{c}", name=f"第{c}社区 Community {c}", kind="community", parent=street
            )
            units[community.code] = community
            for g in (2 * c - 1, 2 * c):
                grid = create_unit(
                    code=f"G-0{g}", name=f"第{g}网格 Grid {g}", kind="grid", parent=community
                )
                units[grid.code] = grid
                for b in (1, 2):
                    create_unit(
                        code=f"B-0{g}-{b}",
                        name=f"{g}-{b}号楼 Building {g}-{b}",
                        kind="building",
                        parent=grid,
                    )
        for code, name in (
            ("D-CITY", "城市管理科 City management"),
            ("D-HOUSING", "住房建设科 Housing"),
            ("D-WATER", "水务所 Water utility"),
        ):
            units[code] = create_unit(code=code, name=name, kind="department", parent=street)
        hasher = PasswordHasher()
        password_hash = hasher.hash(DEMO_PASSWORD)
        for username, display, role, unit_code, below in DEMO_USERS:
            user = create_user(username=username, display_name=display, password_hash=password_hash)
            grant(user=user, role=role, unit=units[unit_code], include_below=below)
        from app.sla.calendar_admin import seed_national  # the SLA layer sits above orgs

        seed_national(actor="seed-demo")
    return True
