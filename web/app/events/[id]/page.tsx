import EventView from "./view";

// One exported page serves every event id (api/webapp.py maps /events/<id> to it).
export function generateStaticParams() {
  return [{ id: "_" }];
}

export default function Page() {
  return <EventView />;
}
