"""The seeded template library: post-operative 30 days, PHQ-9, pain NRS weekly and temperature
after discharge. Stored through the service like any template (owner ``library``), so every
doctor can assign them; ids are fixed so seeding is idempotent."""

PHQ9_OPTIONS = [{"value": "0", "label": "完全不会", "score": 0}, {"value": "1", "label": "好几天", "score": 1},
                {"value": "2", "label": "一半以上的天数", "score": 2}, {"value": "3", "label": "几乎每天", "score": 3}]
PHQ9_ITEMS = ["做事时提不起劲或没有兴趣", "感到心情低落、沮丧或绝望", "入睡困难、睡不安稳或睡眠过多", "感觉疲倦或没有活力",
              "食欲不振或吃太多", "觉得自己很糟，或觉得自己很失败，或让自己或家人失望",
              "对事物专注有困难，例如阅读报纸或看电视时", "动作或说话速度缓慢到别人已经察觉，或正好相反，烦躁或坐立不安",
              "有不如死掉或用某种方式伤害自己的念头"]
# Kroenke, Spitzer & Williams (2001): 0–4 minimal, 5–9 mild, 10–14 moderate, 15–19 moderately severe, 20–27 severe
PHQ9_BANDS = [{"min": 0, "max": 4, "label": "无或极轻微"}, {"min": 5, "max": 9, "label": "轻度"},
              {"min": 10, "max": 14, "label": "中度"}, {"min": 15, "max": 19, "label": "中重度"},
              {"min": 20, "max": 27, "label": "重度"}]
EMERGENCY = "请立即前往最近医院的急诊科就诊，或拨打 120。"
CRISIS = "如果您有伤害自己的想法，请立即拨打心理援助热线 400-161-9995 或 120，并告诉身边的家人。"

PHQ9 = {
    "title": "PHQ-9 抑郁症状筛查（过去两周）",
    "questions": [{"qid": f"q{i}", "type": "single", "text": text, "options": PHQ9_OPTIONS}
                  for i, text in enumerate(PHQ9_ITEMS, start=1)],
    "scoring": {"method": "sum", "bands": PHQ9_BANDS},
    "alerts": [
        {"rule_id": "self_harm", "on": "question", "qid": "q9", "op": ">", "value": 0, "severity": "urgent",
         "text": "PHQ-9 第 9 题 > 0（自伤念头）", "advice": CRISIS},
        {"rule_id": "severe", "on": "score", "op": ">=", "value": 20, "severity": "urgent",
         "text": "PHQ-9 总分 ≥ 20（重度）", "advice": "您的评分提示症状较重，请尽快到医院精神心理科就诊。"},
        {"rule_id": "mod_severe", "on": "score", "op": ">=", "value": 15, "severity": "routine",
         "text": "PHQ-9 总分 ≥ 15"},
    ],
}

PAIN = {
    "title": "疼痛评分（NRS）",
    "questions": [{"qid": "pain", "type": "scale", "text": "过去 24 小时内最痛时的程度（0 无痛，10 最剧烈）", "unit": "分"}],
    "alerts": [
        {"rule_id": "pain_severe", "on": "question", "qid": "pain", "op": ">=", "value": 9, "severity": "urgent",
         "text": "疼痛 ≥ 9", "advice": EMERGENCY},
        {"rule_id": "pain_high", "on": "question", "qid": "pain", "op": ">=", "value": 7, "severity": "routine",
         "text": "疼痛 ≥ 7"},
    ],
}

TEMPERATURE = {
    "title": "体温记录",
    "questions": [{"qid": "temp", "type": "number", "text": "今天测得的最高体温", "unit": "℃", "min": 34, "max": 43}],
    "alerts": [
        {"rule_id": "fever_high", "on": "question", "qid": "temp", "op": ">=", "value": 38.5, "severity": "urgent",
         "text": "体温 ≥ 38.5℃", "advice": "体温 ≥ 38.5℃：请尽快到医院发热门诊或急诊就诊。"},
        {"rule_id": "fever", "on": "question", "qid": "temp", "op": ">=", "value": 37.5, "severity": "routine",
         "text": "体温 ≥ 37.5℃"},
    ],
}

WOUND = {
    "title": "术后第 3 天伤口检查",
    "questions": [
        {"qid": "photo", "type": "photo", "text": "请拍一张伤口照片", "required": False},
        {"qid": "wound", "type": "single", "text": "伤口情况", "options": [
            {"value": "normal", "label": "干燥、无红肿"}, {"value": "red", "label": "红肿"},
            {"value": "discharge", "label": "有渗液或渗血"}]},
        {"qid": "pain", "type": "scale", "text": "伤口疼痛（0–10）", "unit": "分"},
        {"qid": "temp", "type": "number", "text": "今天最高体温", "unit": "℃", "min": 34, "max": 43},
        {"qid": "note", "type": "text", "text": "还有什么想告诉医生的", "required": False},
    ],
    "alerts": [
        {"rule_id": "discharge", "on": "question", "qid": "wound", "op": "==", "value": "discharge",
         "severity": "routine", "text": "伤口渗液或渗血"},
        {"rule_id": "fever_high", "on": "question", "qid": "temp", "op": ">=", "value": 38.5, "severity": "urgent",
         "text": "体温 ≥ 38.5℃", "advice": EMERGENCY},
        {"rule_id": "pain_high", "on": "question", "qid": "pain", "op": ">=", "value": 7, "severity": "routine",
         "text": "疼痛 ≥ 7"},
    ],
}

RECOVERY = {
    "title": "术后 30 天恢复情况",
    "questions": [
        {"qid": "activity", "type": "single", "text": "日常活动", "options": [
            {"value": "normal", "label": "已恢复正常", "score": 0}, {"value": "limited", "label": "部分受限", "score": 1},
            {"value": "unable", "label": "无法自理", "score": 2}]},
        {"qid": "pain", "type": "scale", "text": "目前疼痛（0–10）", "unit": "分"},
        {"qid": "back_to_work", "type": "date", "text": "恢复工作或日常活动的日期", "required": False},
    ],
    "alerts": [{"rule_id": "unable", "on": "question", "qid": "activity", "op": "==", "value": "unable",
                "severity": "routine", "text": "术后 30 天仍无法自理"}],
}

LIBRARY = {
    "lib_postop30": {
        "name": "术后 30 天随访", "anchor_type": "surgery",
        "description": "术后第 1、3、7、30 天：伤口护理提醒、伤口检查、复查加号、恢复评估。",
        "items": [
            {"item_id": "d1_care", "kind": "reminder", "title": "伤口护理", "offset_days": 1,
             "text": "保持伤口清洁干燥，按时换药；如出现发热、伤口红肿渗液请及时联系医生。"},
            {"item_id": "d3_wound", "kind": "questionnaire", "title": "伤口检查", "offset_days": 3, "questionnaire": WOUND},
            {"item_id": "d7_visit", "kind": "booking", "title": "术后复查", "offset_days": 7,
             "text": "术后第 7 天请回院复查（拆线、换药），可预约医生的加号。"},
            {"item_id": "d30_recovery", "kind": "questionnaire", "title": "恢复评估", "offset_days": 30,
             "questionnaire": RECOVERY},
        ],
    },
    "lib_phq9": {
        "name": "PHQ-9 抑郁筛查（每两周，12 周）", "anchor_type": "visit",
        "description": "PHQ-9 总分 0–27：0–4 无或极轻微，5–9 轻度，10–14 中度，15–19 中重度，20–27 重度。",
        "items": [{"item_id": "phq9", "kind": "questionnaire", "title": "PHQ-9", "offset_days": 0,
                   "repeat": {"every_days": 14, "count": 6}, "questionnaire": PHQ9}],
    },
    "lib_pain_nrs": {
        "name": "疼痛评分（每周，12 周）", "anchor_type": "discharge",
        "items": [{"item_id": "pain", "kind": "questionnaire", "title": "疼痛评分", "offset_days": 7,
                   "repeat": {"every_days": 7, "count": 12}, "questionnaire": PAIN}],
    },
    "lib_temperature": {
        "name": "出院后体温监测（14 天）", "anchor_type": "discharge",
        "items": [{"item_id": "temp", "kind": "questionnaire", "title": "体温", "offset_days": 1, "time": "08:00",
                   "repeat": {"every_days": 1, "count": 14}, "questionnaire": TEMPERATURE}],
    },
}
