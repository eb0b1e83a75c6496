"""The thinnest end-to-end path: OpenAI SDK -> gateway -> fake upstream -> back."""

from tests.builders import CHAT_COMPLETIONS, config, provider


def test_sdk_gets_an_answer_through_the_gateway(fake_factory, gateway_factory):
    fake = fake_factory("a")
    gw = gateway_factory(config(provider("a", fake, path=CHAT_COMPLETIONS, models=["gpt-4o"])))
    answer = gw.client().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
    assert answer.choices[0].message.content == "a says: hello"
    assert fake.requests[0]["body"]["model"] == "gpt-4o"
    assert fake.requests[0]["key"] == "sk-upstream-key-1"
