"""The Russian demo organization ``demo-ru`` («Кофейная лавка»): the same story as the English
one in crm/demo.py — staff, canned responses, customers with conversations, orders in roubles —
written in Russian. Its system lines come out in Russian because the organization's language is.
"""

from __future__ import annotations

from accounts.models import Role
from crm.demo import Conversation, DemoLogin, DemoSpec, Step, ago
from orders.models import OrderStatus

DOMAIN = "demo-ru.example.com"
CUSTOMER_PASSWORD = "demo-customer-2025"  # noqa: S105 (printed demo login)

USERS = [
    DemoLogin(Role.ADMIN, f"admin@{DOMAIN}", "demo-admin-2025", "Анна Администратор"),
    DemoLogin(Role.SENIOR_OPERATOR, f"olga@{DOMAIN}", "demo-operator-2025", "Ольга Смирнова"),
    DemoLogin(Role.OPERATOR, f"oleg@{DOMAIN}", "demo-operator-2025", "Олег Кузнецов"),
    DemoLogin(Role.CUSTOMER, f"customer@{DOMAIN}", CUSTOMER_PASSWORD, "Кирилл Покупателев"),
    DemoLogin(Role.CUSTOMER, f"daria@{DOMAIN}", CUSTOMER_PASSWORD, "Дарья Новикова"),
    DemoLogin(Role.CUSTOMER, f"egor@{DOMAIN}", CUSTOMER_PASSWORD, "Егор Лебедев"),
    DemoLogin(Role.CUSTOMER, f"vera@{DOMAIN}", CUSTOMER_PASSWORD, "Вера Белова"),
    DemoLogin(Role.CUSTOMER, f"ivan@{DOMAIN}", CUSTOMER_PASSWORD, "Иван Петров"),
    DemoLogin(Role.CUSTOMER, f"gleb@{DOMAIN}", CUSTOMER_PASSWORD, "Глеб Мельников"),
]

CANNED_RESPONSES = [
    ("привет", "Здравствуйте! Спасибо, что написали в «Кофейную лавку». Чем могу помочь?"),
    ("статус", "Сейчас проверю статус заказа. Подскажите, пожалуйста, его номер?"),
    (
        "доставка",
        "Доставка обычно занимает от 2 до 4 рабочих дней после отправки заказа. "
        "По Москве — на следующий день.",
    ),
    (
        "возврат",
        "Приносим извинения! Я оформила возврат, деньги вернутся на карту в течение 5–7 дней.",
    ),
    ("пока", "Рада была помочь! Пишите, если появятся вопросы."),
]

# (title, [(item, quantity, unit price)], status steps after creation), in roubles.
ORDERS = [
    (
        "Кофемашина с очистителем от накипи",
        [
            ("Кофемашина «Классика»", "1", "32990.00"),
            ("Очиститель от накипи 500 мл", "2", "690.00"),
        ],
        [OrderStatus.CONFIRMED, OrderStatus.IN_PROGRESS],
    ),
    ("Кофе в зёрнах, подписка", [("Кофе в зёрнах 1 кг", "3", "1450.00")], []),
]

CONVERSATIONS = [
    Conversation(  # orders, assigned to Olga, a question waiting for her
        f"customer@{DOMAIN}",
        [
            Step(
                ago(2, 3, 10),
                "кирилл",
                text="Здравствуйте! Хочу заказать кофемашину «Классика» и очиститель от "
                "накипи. Поможете оформить заказ?",
            ),
            Step(ago(2, 3, 8), "анна", "assign:olga"),
            Step(ago(2, 3, 2), "ольга", text="Здравствуйте, Кирилл! Конечно, минутку."),
            Step(ago(2, 3, 0), "ольга", "order:0"),
            Step(
                ago(2, 2, 58),
                "ольга",
                text="Готово: заказ №1001 появился в разделе «Заказы» вашего кабинета.",
            ),
            Step(ago(2, 2, 50), "кирилл", "read"),
            Step(
                ago(2, 2, 49),
                "кирилл",
                text="Отлично, спасибо! А можно ещё подписку на кофе в зёрнах? Три пачки.",
            ),
            Step(ago(2, 2, 40), "ольга", "order:1"),
            Step(ago(2, 2, 39), "ольга", text="Добавила заказом №1002. Что-нибудь ещё?"),
            Step(ago(2, 2, 30), "кирилл", "read"),
            Step(ago(1, 20, 0), "ольга", "order-status:0:confirmed"),
            Step(ago(1, 2, 0), "ольга", "order-status:0:in_progress"),
            Step(
                ago(1, 1, 55),
                "ольга",
                text="Кофемашину уже упаковывают, завтра передадим её в доставку.",
            ),
            Step(ago(0, 3, 5), "кирилл", "read"),
            Step(ago(0, 3, 0), "кирилл", text="А трек-номер уже есть?"),
        ],
    ),
    Conversation(  # a photo, a staff note, high priority, answered by Oleg
        f"daria@{DOMAIN}",
        [
            Step(
                ago(1, 5, 0),
                "дарья",
                "photo",
                "Кофемолка пришла с треснувшей крышкой, вот фото.",
            ),
            Step(ago(1, 4, 55), "ольга", "assign:oleg"),
            Step(ago(1, 4, 50), "олег", "read"),
            Step(
                ago(1, 4, 48),
                "олег",
                text="Дарья, очень жаль! Сейчас узнаю, что можно сделать.",
            ),
            Step(
                ago(1, 4, 45),
                "олег",
                "note",
                "Опять повреждение при доставке, второй случай за неделю. "
                "Попросил склад выслать новую крышку.",
            ),
            Step(ago(1, 4, 44), "ольга", "priority:high"),
            Step(
                ago(1, 3, 10),
                "олег",
                text="Новую крышку отправим завтра, кофемолку возвращать не нужно.",
            ),
            Step(ago(1, 2, 30), "дарья", "read"),
            Step(ago(1, 2, 29), "дарья", text="Замечательно, спасибо!"),
            Step(ago(1, 2, 0), "олег", "read"),
        ],
    ),
    Conversation(  # pending: waiting for the customer's answer
        f"egor@{DOMAIN}",
        [
            Step(ago(0, 20, 15), "егор", text="Можно поменять адрес доставки моего заказа?"),
            Step(ago(0, 20, 5), "анна", "assign:olga"),
            Step(ago(0, 19, 58), "ольга", "read"),
            Step(
                ago(0, 19, 57),
                "ольга",
                text="Конечно! Напишите, пожалуйста, новый адрес с индексом.",
            ),
            Step(ago(0, 19, 56), "ольга", "status:pending"),
        ],
    ),
    Conversation(  # closed, resolved with a canned reply
        f"vera@{DOMAIN}",
        [
            Step(ago(3, 2, 0), "вера", text="Вы доставляете в Казань?"),
            Step(ago(3, 1, 58), "ольга", "assign:oleg"),
            Step(
                ago(3, 1, 55),
                "олег",
                text="Да, доставка в Казань занимает от 3 до 5 рабочих дней.",
            ),
            Step(ago(3, 1, 41), "вера", "read"),
            Step(ago(3, 1, 40), "вера", text="Спасибо, это всё, что я хотела узнать."),
            Step(ago(3, 1, 38), "олег", "canned:пока"),
            Step(ago(3, 1, 36), "олег", "status:closed"),
            Step(ago(3, 1, 30), "вера", "read"),
        ],
    ),
    Conversation(  # assigned to Oleg, the customer's follow-up still unread
        f"ivan@{DOMAIN}",
        [
            Step(ago(0, 2, 30), "иван", text="Какой очиститель подходит к «Классике»?"),
            Step(ago(0, 2, 28), "ольга", "assign:oleg"),
            Step(ago(0, 2, 21), "олег", "read"),
            Step(
                ago(0, 2, 20),
                "олег",
                text="Наш очиститель от накипи 500 мл: одна чистка раз в два месяца.",
            ),
            Step(ago(0, 0, 26), "иван", "read"),
            Step(ago(0, 0, 25), "иван", text="А сколько его нужно на одну чистку?"),
        ],
    ),
    Conversation(  # unassigned, in the mobile app inbox (no auto-assignment there)
        f"gleb@{DOMAIN}",
        [
            Step(
                ago(0, 0, 45),
                "глеб",
                text="Добрый день! После обновления приложение не пускает меня в аккаунт.",
            ),
            Step(ago(0, 0, 44), "глеб", text="Переустановил — та же ошибка: «сессия истекла»."),
            Step(ago(0, 0, 10), "анна", "priority:urgent"),
        ],
        inbox="app",
    ),
]

SPEC = DemoSpec(
    slug="demo-ru",
    name="Кофейная лавка",
    language="ru",
    domain=DOMAIN,
    app_inbox="Мобильное приложение",
    currency="RUB",
    users=USERS,
    canned_responses=CANNED_RESPONSES,
    orders=ORDERS,
    conversations=CONVERSATIONS,
)
