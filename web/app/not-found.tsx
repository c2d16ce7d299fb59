import { NotFound } from "@/components/States";

export default function Missing() {
  return <NotFound />;
}
